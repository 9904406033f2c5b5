-- The console's `/audit?action=…`: one action's rows, newest first, by keyset on id.
-- Without it a rare action (a `forget` among thousands of logins) walks the whole log
-- backwards. The log is small beside the results table (operator actions, not jobs),
-- so a plain build is brief.
CREATE INDEX IF NOT EXISTS operator_actions_action_id ON operator_actions (action, id);
