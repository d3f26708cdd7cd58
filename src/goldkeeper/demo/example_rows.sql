-- Rows of the example application that are NOT part of the golden dataset (a draft: outside the mapping's
-- `where`). `goldkeeper demo --mapped` inserts them before the restore and shows that restore and dump
-- leave them untouched.
INSERT INTO app.documents (doc_id, source_url, name, state, created)
VALUES ('6f1c1a52-7d1e-4c1b-9d55-0d2a1f0d0001', 'https://intranet.skillforge.test/drafts/roadmap',
        'Roadmap (unreleased draft)', 'draft', '2026-01-05 09:30:00');
INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord, heading, path)
VALUES ('6f1c1a52-7d1e-4c1b-9d55-0d2a1f0d0101', '6f1c1a52-7d1e-4c1b-9d55-0d2a1f0d0001',
        'Draft text that is not part of the golden dataset.', 0, 'Roadmap', 'Drafts > Roadmap');
