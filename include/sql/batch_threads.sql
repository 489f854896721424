-- CI_BATCH_THD rows of the runs batch_runs.sql reads (same bind parameters).
-- The batch codes and the window filter the runs; the rows are reached through the runs' key, so
-- the query costs what the day holds, not what the table's history holds.
-- RTRIM on both sides: a code blank-padded in one table and not in the other still matches.
SELECT T.BATCH_CD, T.BATCH_NBR, T.BATCH_RERUN_NBR, T.BATCH_THREAD_NBR, T.THREAD_STATUS
FROM CI_BATCH_THD T
WHERE EXISTS (
        SELECT 1
        FROM CI_BATCH_RUN R
        WHERE RTRIM(R.BATCH_CD) = RTRIM(T.BATCH_CD)
          AND R.BATCH_NBR = T.BATCH_NBR
          AND R.BATCH_RERUN_NBR = T.BATCH_RERUN_NBR
          AND RTRIM(R.BATCH_CD) IN :batch_codes
          AND (
                (R.START_DTTM >= :window_start AND R.START_DTTM < :window_end
                 AND (R.END_DTTM IS NULL OR R.END_DTTM >= :window_start))
             OR (R.START_DTTM IS NULL AND R.BATCH_BUS_DT = :business_date)
          )
  )
ORDER BY T.BATCH_CD, T.BATCH_NBR, T.BATCH_RERUN_NBR, T.BATCH_THREAD_NBR
