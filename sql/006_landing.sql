-- exai-git migration 006: landing is reconciliation (MARKERS.md, "When a commit counts").
--
-- A commit link stays in force until something undoes it: a revert, the commit leaving every
-- tracked branch, or a rewrite that dropped or moved its markers. undone_by names the commit
-- that did (undone_why says why); a commit whose links are undone is applied again when it
-- lands again, by writing over its own row (the unique key stays one row per issue, commit
-- and action).
--
-- exai_branch_heads: the head `apply --branch` has brought the tracker up to, per repository
-- and branch (CI's counterpart of a clone's recorded heads).

ALTER TABLE exai_commit_links ADD COLUMN IF NOT EXISTS undone_by text;
ALTER TABLE exai_commit_links ADD COLUMN IF NOT EXISTS undone_why text;
ALTER TABLE exai_commit_links ADD COLUMN IF NOT EXISTS undone_at timestamptz;

-- What a revert undid is found by the revert's sha (a revert of the revert applies it again).
CREATE INDEX IF NOT EXISTS exai_commit_links_undone_idx
    ON exai_commit_links (undone_by) WHERE undone_by IS NOT NULL;

CREATE TABLE IF NOT EXISTS exai_branch_heads (
    repository text NOT NULL,
    branch     text NOT NULL,
    sha        text NOT NULL CHECK (sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exai_branch_heads_once PRIMARY KEY (repository, branch)
);

ALTER TABLE exai_branch_heads ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON exai_branch_heads FROM %I', r);
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'exai_git_hook') THEN
        RETURN;
    END IF;
    -- A link applied again is written over its undone row (INSERT ... ON CONFLICT DO UPDATE);
    -- an undo marks it. Nothing else of a link changes, and nothing is deleted.
    GRANT UPDATE (patch_id, steps, conversation_id, repository, subject, committed_at, effects,
                  applied_at, undone_by, undone_why, undone_at)
        ON exai_commit_links TO exai_git_hook;
    GRANT SELECT, INSERT ON exai_branch_heads TO exai_git_hook;
    GRANT UPDATE (sha, updated_at) ON exai_branch_heads TO exai_git_hook;
    DROP POLICY IF EXISTS exai_git_hook_rw ON exai_branch_heads;
    CREATE POLICY exai_git_hook_rw ON exai_branch_heads TO exai_git_hook
        USING (true) WITH CHECK (true);
END
$$;
