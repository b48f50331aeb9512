-- exai-git migration 008: the scanner also reads, on the changed files, every open issue
-- anchored at another commit than the one it compares against (their lines are mapped before
-- they are compared). With no index on (path, anchor) that branch of the scan read the whole
-- table: 90-225 ms at a million issues, where the rest of the scan follows the change. The
-- scan asks for anchor < base OR anchor > base, two ranges this index answers.

CREATE INDEX IF NOT EXISTS exai_issues_open_anchored_idx
    ON exai_issues (exai_norm_path(file_path), anchor_sha)
    WHERE status IN ('open', 'in_progress') AND file_path IS NOT NULL
      AND line_start IS NOT NULL AND anchor_sha IS NOT NULL;
