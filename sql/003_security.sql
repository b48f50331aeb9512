-- exai-git migration 003: nothing open to Supabase's public API, a least-privilege role
-- for hooks.
--
-- Supabase exposes the public schema through its REST API as the roles anon and
-- authenticated, and grants them every new table by default. Row level security with no
-- policy for them, plus revoked privileges, closes that door. On plain PostgreSQL, where
-- those roles do not exist, the revokes are skipped.
--
-- exai_git_hook may read the tracker, change only the columns the apply engine changes,
-- and insert update rows and commit links: no DDL, no DELETE. It has no login; give one
-- with  CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE exai_git_hook;

ALTER TABLE exai_issues          ENABLE ROW LEVEL SECURITY;
ALTER TABLE exai_issue_updates   ENABLE ROW LEVEL SECURITY;
ALTER TABLE exai_issue_checklist ENABLE ROW LEVEL SECURITY;
ALTER TABLE exai_commit_links    ENABLE ROW LEVEL SECURITY;
ALTER TABLE exai_git_migrations  ENABLE ROW LEVEL SECURITY;

-- A view runs with its owner's rights unless told otherwise, which would bypass the
-- row level security above (PostgreSQL 15 and later know security_invoker).
DO $$
BEGIN
    IF current_setting('server_version_num')::integer >= 150000 THEN
        EXECUTE 'ALTER VIEW exai_active_issues SET (security_invoker = true)';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION exai_norm_path(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION exai_touch_updated_at() FROM PUBLIC;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON exai_issues, exai_issue_updates, exai_issue_checklist,'
                           ' exai_commit_links, exai_git_migrations, exai_active_issues FROM %I', r);
            EXECUTE format('REVOKE ALL ON SEQUENCE exai_issues_issue_number_seq,'
                           ' exai_commit_links_id_seq FROM %I', r);
            EXECUTE format('REVOKE ALL ON FUNCTION exai_norm_path(text),'
                           ' exai_touch_updated_at() FROM %I', r);
        END IF;
    END LOOP;
END
$$;

-- Roles belong to the whole server: another database on it may have made this one first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'exai_git_hook') THEN
        BEGIN
            CREATE ROLE exai_git_hook NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'exai-git: not allowed to create role exai_git_hook; skipped';
        END;
    END IF;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'exai_git_hook') THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO exai_git_hook', current_schema());
    GRANT SELECT ON exai_issues, exai_issue_updates, exai_issue_checklist, exai_commit_links,
                    exai_git_migrations, exai_active_issues TO exai_git_hook;
    GRANT UPDATE (status, fix_conversation_id, fix_date, file_path, line_start, line_end)
        ON exai_issues TO exai_git_hook;
    GRANT UPDATE (status, conversation_id, completed_at) ON exai_issue_checklist TO exai_git_hook;
    GRANT INSERT ON exai_issue_updates, exai_commit_links TO exai_git_hook;
    GRANT USAGE ON SEQUENCE exai_commit_links_id_seq TO exai_git_hook;
    GRANT EXECUTE ON FUNCTION exai_norm_path(text) TO exai_git_hook;

    DROP POLICY IF EXISTS exai_git_hook_rw ON exai_issues;
    CREATE POLICY exai_git_hook_rw ON exai_issues TO exai_git_hook USING (true) WITH CHECK (true);
    DROP POLICY IF EXISTS exai_git_hook_rw ON exai_issue_checklist;
    CREATE POLICY exai_git_hook_rw ON exai_issue_checklist TO exai_git_hook
        USING (true) WITH CHECK (true);
    DROP POLICY IF EXISTS exai_git_hook_rw ON exai_issue_updates;
    CREATE POLICY exai_git_hook_rw ON exai_issue_updates TO exai_git_hook
        USING (true) WITH CHECK (true);
    DROP POLICY IF EXISTS exai_git_hook_rw ON exai_commit_links;
    CREATE POLICY exai_git_hook_rw ON exai_commit_links TO exai_git_hook
        USING (true) WITH CHECK (true);
    DROP POLICY IF EXISTS exai_git_hook_read ON exai_git_migrations;
    CREATE POLICY exai_git_hook_read ON exai_git_migrations FOR SELECT TO exai_git_hook
        USING (true);
END
$$;
