-- exai-git migration 001: the issue tracker itself.
-- Tables, values and the view exactly as the tracker's setup document describes them,
-- so its documented SQL runs unchanged. Safe on a database where the tracker was already
-- created by hand: existing tables are kept and only missing pieces are added.

-- Which migrations ran (the runner also creates it first, to know where it stands).
CREATE TABLE IF NOT EXISTS exai_git_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS exai_issues (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    issue_number        serial UNIQUE,
    title               text NOT NULL,
    description         text,
    severity            text NOT NULL
                        CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    category            text
                        CHECK (category IN ('timeout', 'architecture', 'configuration',
                                            'performance', 'security', 'other')),
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'in_progress', 'fixed', 'verified',
                                          'closed', 'wont_fix')),
    file_path           text,
    line_start          integer CHECK (line_start IS NULL OR line_start >= 1),
    line_end            integer CHECK (line_end IS NULL OR line_end >= 1),
    affected_components text[],
    conversation_id     text,
    fix_conversation_id text,
    root_cause          text,
    impact_description  text,
    recommended_fix     text,
    actual_fix          text,
    related_issues      uuid[],
    blocks_issues       uuid[],
    blocked_by_issues   uuid[],
    fix_date            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Columns a hand-made tracker may lack.
ALTER TABLE exai_issues ADD COLUMN IF NOT EXISTS fix_date timestamptz;
ALTER TABLE exai_issues ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE exai_issues ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE IF NOT EXISTS exai_issue_updates (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    issue_id        uuid NOT NULL REFERENCES exai_issues (id) ON DELETE CASCADE,
    update_type     text NOT NULL
                    CHECK (update_type IN ('comment', 'status_change', 'fix_applied',
                                           'verification', 'conversation_link')),
    content         text NOT NULL,
    conversation_id text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE exai_issue_updates ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE IF NOT EXISTS exai_issue_checklist (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    issue_id        uuid NOT NULL REFERENCES exai_issues (id) ON DELETE CASCADE,
    step_number     integer NOT NULL CHECK (step_number >= 1),
    description     text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'in_progress', 'complete', 'skipped')),
    conversation_id text,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE exai_issue_checklist ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE exai_issue_checklist ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

CREATE UNIQUE INDEX IF NOT EXISTS exai_issue_checklist_step_key
    ON exai_issue_checklist (issue_id, step_number);
CREATE INDEX IF NOT EXISTS exai_issue_updates_issue_idx
    ON exai_issue_updates (issue_id, created_at);
CREATE INDEX IF NOT EXISTS exai_issues_conversation_idx ON exai_issues (conversation_id);
CREATE INDEX IF NOT EXISTS exai_issues_fix_conversation_idx ON exai_issues (fix_conversation_id);

-- updated_at is kept by the database, whoever writes the row.
CREATE OR REPLACE FUNCTION exai_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS exai_issues_touch ON exai_issues;
CREATE TRIGGER exai_issues_touch BEFORE UPDATE ON exai_issues
    FOR EACH ROW EXECUTE FUNCTION exai_touch_updated_at();
DROP TRIGGER IF EXISTS exai_issue_checklist_touch ON exai_issue_checklist;
CREATE TRIGGER exai_issue_checklist_touch BEFORE UPDATE ON exai_issue_checklist
    FOR EACH ROW EXECUTE FUNCTION exai_touch_updated_at();

-- Issue paths are written by people: './src/x.py', 'src\x.py' and 'src//x.py' all name
-- src/x.py. The scanner matches on this normal form, through the index below.
CREATE OR REPLACE FUNCTION exai_norm_path(p text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
    SELECT regexp_replace(regexp_replace(replace(p, E'\\', '/'), '/{2,}', '/', 'g'),
                          '^(\./)+', '')
$$;

CREATE INDEX IF NOT EXISTS exai_issues_open_path_idx
    ON exai_issues (exai_norm_path(file_path))
    WHERE status IN ('open', 'in_progress') AND file_path IS NOT NULL;

-- Active issues (not yet verified, closed or dropped) with checklist progress.
DROP VIEW IF EXISTS exai_active_issues;
CREATE VIEW exai_active_issues AS
SELECT i.*,
       coalesce(p.completed_steps, 0) AS completed_steps,
       coalesce(p.total_steps, 0)     AS total_steps,
       CASE WHEN coalesce(p.total_steps, 0) = 0 THEN 0::numeric
            ELSE round(100.0 * p.completed_steps / p.total_steps, 2)
       END                            AS progress_percentage
FROM exai_issues i
LEFT JOIN (
    SELECT issue_id,
           count(*) FILTER (WHERE status = 'complete')::integer AS completed_steps,
           count(*)::integer                                    AS total_steps
    FROM exai_issue_checklist
    GROUP BY issue_id
) p ON p.issue_id = i.id
WHERE i.status IN ('open', 'in_progress', 'fixed');
