-- The dashboard's live stream of tasks (issue 6): every insert or update of a task is
-- announced on the channel sharpeyes_tasks, delivered at commit. The payload carries
-- what a stream reader needs to filter by scope and to decide whether to refetch.
-- Released migrations are never edited; add a new file instead.

CREATE FUNCTION notify_task_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sharpeyes_tasks', json_build_object(
        'id', NEW.id, 'state', NEW.state, 'grid_code', NEW.grid_code,
        'assignee_id', NEW.assignee_id, 'tier', NEW.tier,
        'op', lower(TG_OP))::text);
    RETURN NEW;
END $$;

CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION notify_task_change();
