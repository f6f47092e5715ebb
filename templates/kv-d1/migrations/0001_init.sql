-- Create the notes table. Apply with `pywrangler-rs d1 migrations apply DB --local` (or `--remote`).
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
