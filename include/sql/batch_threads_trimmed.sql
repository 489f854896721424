-- CI_BATCH_THD rows as batch_threads.sql reads them, with BATCH_CD compared without trailing blanks on both
-- sides (RTRIM): for a site whose tables pad a code differently (CHAR in one, VARCHAR2 in another).
-- The function defeats the key index, so the reader runs this only when a run came back without
-- any CI_BATCH_THD row from batch_threads.sql; the rows of runs that have threads are ignored.
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
