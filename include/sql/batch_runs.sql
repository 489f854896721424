-- CI_BATCH_RUN rows of the workflow's batch codes that start in the business-day window (widened
-- by a margin of 3 hours on each side; the reader keeps the runs whose start lies in the window itself).
-- Bind parameters (plain names here, colon-prefixed in the query):
--   batch_codes    the batch codes (a list; the reader sends at most 1,000 at a time)
--   window_start   the window's start minus 3 hours, as the CC&B server's local time
--   window_end     the window's end (or the as-of time, if earlier) plus 3 hours, as the server's local time
--   business_date  the business date: runs without START_DTTM are read by BATCH_BUS_DT
-- RTRIM: OUAF codes are CHAR columns, blank-padded on some sites.
-- START_DTTM is bounded on both sides so that the query reads the window, not the whole history
-- the table keeps (a range on START_DTTM can use an index).
SELECT R.BATCH_CD, R.BATCH_NBR, R.BATCH_RERUN_NBR, R.BATCH_BUS_DT, R.RUN_STATUS, R.START_DTTM, R.END_DTTM
FROM CI_BATCH_RUN R
WHERE RTRIM(R.BATCH_CD) IN :batch_codes
  AND (
        (R.START_DTTM >= :window_start AND R.START_DTTM < :window_end
         AND (R.END_DTTM IS NULL OR R.END_DTTM >= :window_start))
     OR (R.START_DTTM IS NULL AND R.BATCH_BUS_DT = :business_date)
  )
ORDER BY R.BATCH_CD, R.BATCH_NBR, R.BATCH_RERUN_NBR
