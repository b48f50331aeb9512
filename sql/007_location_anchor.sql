-- exai-git migration 007: an issue's location is lines *at a commit* (MARKERS.md v2,
-- "Locations"). anchor_sha is the commit file_path/line_start/line_end refer to; NULL for
-- an issue filed without one (by SQL): the next reconciliation anchors it at the main
-- line's head as it was before. Locations move only when the main line moves, through
-- `git diff anchor..new-head`; the scanner maps lines from the anchor to the commit it
-- compares against.

ALTER TABLE exai_issues ADD COLUMN IF NOT EXISTS anchor_sha text;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'exai_issues_anchor_sha_check'
                   AND conrelid = 'exai_issues'::regclass) THEN
        ALTER TABLE exai_issues ADD CONSTRAINT exai_issues_anchor_sha_check
            CHECK (anchor_sha IS NULL OR anchor_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$');
    END IF;
END
$$;

-- Issues a reconciliation has still to anchor (filed by SQL): found without a scan.
CREATE INDEX IF NOT EXISTS exai_issues_unanchored_idx
    ON exai_issues (id)
    WHERE anchor_sha IS NULL AND status IN ('open', 'in_progress') AND file_path IS NOT NULL;

-- The hook role moves locations: it may set the anchor with the location columns.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'exai_git_hook') THEN
        GRANT UPDATE (anchor_sha, file_path, line_start, line_end) ON exai_issues
            TO exai_git_hook;
    END IF;
END
$$;

-- Every main-line move re-anchors the open issues whose files it left alone: that is not an
-- update of the issue, so it leaves updated_at as it was (a moved location still counts).
DROP TRIGGER IF EXISTS exai_issues_touch ON exai_issues;
CREATE TRIGGER exai_issues_touch BEFORE UPDATE ON exai_issues
    FOR EACH ROW
    WHEN (OLD.anchor_sha IS NOT DISTINCT FROM NEW.anchor_sha
          OR (to_jsonb(OLD) - 'anchor_sha' - 'updated_at')
             IS DISTINCT FROM (to_jsonb(NEW) - 'anchor_sha' - 'updated_at'))
    EXECUTE FUNCTION exai_touch_updated_at();
