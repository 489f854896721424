-- The fast path's fingerprint (plugins/batch_monitor/triggers.py): one small query every
-- watch_interval that tells whether anything changed in the workflow's runs, not what.
-- One row per RUN_STATUS: how many runs, and the latest start and end among them. A run that
-- starts, ends, fails or is rerun changes a count or a latest time; progress within a run does
-- not (the cron tick judges that: stuck, long running, late, deadlines).
-- Bind parameters (plain names here, colon-prefixed in the query):
--   batch_codes    the workflow's batch codes (a list)
--   window_start   the business day's start minus a day (yesterday's unfinished chain too),
--                  as the CC&B server's local time
--   window_end     the business day's end plus a margin, as the server's local time
-- The range on START_DTTM is the access path (the index batch_runs.sql already uses); RTRIM
-- matches blank-padded CHAR codes as the reader does. Runs without START_DTTM are left out: an
-- OR on BATCH_BUS_DT would defeat the index, and the cron tick reads them.
SELECT R.RUN_STATUS, COUNT(*) AS RUN_COUNT, MAX(R.START_DTTM) AS LATEST_START, MAX(R.END_DTTM) AS LATEST_END
FROM CI_BATCH_RUN R
WHERE R.START_DTTM >= :window_start
  AND R.START_DTTM < :window_end
  AND RTRIM(R.BATCH_CD) IN :batch_codes
GROUP BY R.RUN_STATUS
