"""Built-in notifiers, registered as plugins: each implements ``router_alert``.

* log: every alert as a log line (always on);
* webhook: a Slack-compatible JSON POST (``{"text", "attachments", "alert"}``) to
  ``ROUTER_ALERT_WEBHOOK_URL``;
* email: a plain-text message over SMTP to ``ROUTER_ALERT_SMTP_TO`` (smtplib, optional STARTTLS
  and login).

A notifier that fails raises; the plugin host logs and counts it, and the others still run.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any

from ..hooks import hookimpl

log = logging.getLogger("router.alerts")
_COLOURS = {"critical": "#d00000", "warning": "#e8a200", "info": "#2e7d32"}
TIMEOUT_S = 10.0


def _figures_text(figures: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {json.dumps(v, default=str)}" for k, v in (figures or {}).items())


def _headline(alert: dict[str, Any]) -> str:
    mark = "RECOVERED" if alert.get("recovered") else str(alert.get("severity", "info")).upper()
    return f"[{mark}] {alert.get('title', alert.get('key', 'alert'))}"


class LogNotifier:
    @hookimpl
    def router_alert(self, alert: dict[str, Any]) -> None:
        level = logging.INFO if alert.get("recovered") or alert.get("severity") == "info" else logging.WARNING
        if alert.get("severity") == "critical" and not alert.get("recovered"):
            level = logging.ERROR
        log.log(
            level,
            "%s — %s",
            _headline(alert),
            alert.get("message", ""),
            extra={"alert": alert.get("key"), "severity": alert.get("severity")},
        )


class WebhookNotifier:
    def __init__(self) -> None:
        self.url = ""

    @hookimpl
    def router_configure(self, settings: Any) -> None:
        self.url = getattr(settings, "alert_webhook_url", "") or ""

    @staticmethod
    def payload(alert: dict[str, Any]) -> dict[str, Any]:
        """Slack's incoming-webhook shape; other receivers read ``alert``."""
        colour = _COLOURS["info"] if alert.get("recovered") else _COLOURS.get(alert.get("severity", ""), "#888888")
        return {
            "text": f"{_headline(alert)}\n{alert.get('message', '')}",
            "attachments": [
                {
                    "color": colour,
                    "title": alert.get("title", ""),
                    "text": _figures_text(alert.get("figures") or {}),
                    "footer": f"ticket-router · {alert.get('key', '')}",
                }
            ],
            "alert": {k: v for k, v in alert.items() if k != "figures_png"},
        }

    @hookimpl
    def router_alert(self, alert: dict[str, Any]) -> None:
        if not self.url:
            return
        body = json.dumps(self.payload(alert), default=str).encode()
        req = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "ticket-router"},
        )
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            resp.read()


class EmailNotifier:
    def __init__(self) -> None:
        self.settings: Any = None

    @hookimpl
    def router_configure(self, settings: Any) -> None:
        self.settings = settings

    @hookimpl
    def router_alert(self, alert: dict[str, Any]) -> None:
        st = self.settings
        if st is None or not st.alert_smtp_host or not st.alert_smtp_to:
            return
        msg = EmailMessage()
        msg["Subject"] = f"[ticket-router] {_headline(alert)}"
        msg["From"] = st.alert_smtp_from or "ticket-router@localhost"
        msg["To"] = ", ".join(st.alert_smtp_to)
        msg["X-Router-Alert-Key"] = str(alert.get("key", ""))
        msg.set_content(
            f"{alert.get('message', '')}\n\n{_figures_text(alert.get('figures') or {})}\n\n"
            f"key: {alert.get('key')}\nseverity: {alert.get('severity')}\n"
            f"recovered: {bool(alert.get('recovered'))}\n"
        )
        with smtplib.SMTP(st.alert_smtp_host, st.alert_smtp_port, timeout=TIMEOUT_S) as smtp:
            if st.alert_smtp_starttls:
                smtp.starttls()
            if st.alert_smtp_user:
                smtp.login(st.alert_smtp_user, st.alert_smtp_password)
            smtp.send_message(msg)


def builtin_notifiers() -> list[tuple[Any, str]]:
    return [(LogNotifier(), "notify-log"), (WebhookNotifier(), "notify-webhook"), (EmailNotifier(), "notify-email")]
