"""Services: the operations the API, the web pages and the CLI call. They own their transactions."""
