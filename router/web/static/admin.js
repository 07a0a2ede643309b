// Small helpers for every admin page: confirmations, the rule editor's line gutter, "go back" links.
(function () {
  "use strict";

  // A form with data-confirm asks first; the reason field (required in the form) travels with it.
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    const button = ev.submitter;
    const question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) ev.preventDefault();
  });

  document.querySelectorAll("a[data-back]").forEach((a) => {
    a.addEventListener("click", (ev) => {
      if (window.history.length > 1) { ev.preventDefault(); window.history.back(); }
    });
  });

  // The rule editor: keep the line-number gutter scrolled with the textarea, and jump to a problem's line.
  const editor = document.getElementById("rules-content");
  const gutter = document.getElementById("rules-gutter");
  if (editor && gutter) {
    const sync = () => { gutter.scrollTop = editor.scrollTop; };
    editor.addEventListener("scroll", sync);
    editor.addEventListener("input", () => {
      const count = editor.value.split("\n").length;
      let have = gutter.children.length;
      while (have < count) {
        const div = document.createElement("div");
        div.textContent = String(++have);
        gutter.appendChild(div);
      }
      while (have > count) { gutter.removeChild(gutter.lastElementChild); have--; }
      sync();
    });
    document.querySelectorAll("[data-goto-line]").forEach((el) => {
      el.addEventListener("click", (ev) => {
        ev.preventDefault();
        const line = Number(el.dataset.gotoLine);
        const lines = editor.value.split("\n");
        const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
        editor.focus();
        editor.setSelectionRange(start, start + (lines[line - 1] || "").length);
        const height = editor.scrollHeight / Math.max(lines.length, 1);
        editor.scrollTop = Math.max(0, (line - 5) * height);
        sync();
      });
    });
  }
})();
