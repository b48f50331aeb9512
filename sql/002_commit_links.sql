-- exai-git migration 002: which commit did what to which issue.
-- One row per (issue, commit, action). The unique key makes applying a commit twice a
-- no-op; patch_id lets a rewritten commit (amend, rebase, cherry-pick) be recognised as
-- the same work; effects records what the commit changed so a revert can undo it.

CREATE TABLE IF NOT EXISTS exai_commit_links (
    id              bigserial PRIMARY KEY,
    issue_id        uuid NOT NULL REFERENCES exai_issues (id) ON DELETE CASCADE,
    commit_sha      text NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    patch_id        text,
    action          text NOT NULL
                    CHECK (action IN ('fix', 'progress', 'ref', 'verify', 'reopen',
                                      'revert', 'rewrite', 'move')),
    steps           integer[] NOT NULL DEFAULT '{}',
    conversation_id text,
    repository      text,
    subject         text,
    committed_at    timestamptz,
    effects         jsonb NOT NULL DEFAULT '{}'::jsonb,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exai_commit_links_once UNIQUE (issue_id, commit_sha, action)
);

CREATE INDEX IF NOT EXISTS exai_commit_links_sha_idx ON exai_commit_links (commit_sha);
CREATE INDEX IF NOT EXISTS exai_commit_links_patch_idx
    ON exai_commit_links (patch_id) WHERE patch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS exai_commit_links_conversation_idx
    ON exai_commit_links (conversation_id) WHERE conversation_id IS NOT NULL;
