-- Creates the application role dbkit_app (idempotent: roles are cluster-wide and these migrations run in many databases on one server). Must precede 0001, whose policies are TO dbkit_app.
-- Two databases migrating at once may both see the role missing; the loser's CREATE ROLE fails with a duplicate, which is fine.
DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dbkit_app') THEN CREATE ROLE dbkit_app NOLOGIN NOBYPASSRLS; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
