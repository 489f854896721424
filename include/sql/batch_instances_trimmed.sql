-- CI_BATCH_INST rows as batch_instances.sql reads them, with BATCH_CD compared without trailing blanks on both
-- sides (RTRIM): for a site whose tables pad a code differently (CHAR in one, VARCHAR2 in another).
-- The function defeats the key index, so the reader runs this only when a run came back without
-- any CI_BATCH_INST row from batch_instances.sql; the rows of runs that have threads are ignored.
-- A thread restarted by an operator has one row per execution, told apart by SCHEDULER_ID.
SELECT I.BATCH_CD, I.BATCH_NBR, I.BATCH_RERUN_NBR, I.BATCH_THREAD_NBR, I.SCHEDULER_ID,
       I.START_DTTM, I.END_DTTM, I.REC_PROC_CNT, I.REC_ERR_CNT
FROM CI_BATCH_INST I
WHERE EXISTS (
        SELECT 1
        FROM CI_BATCH_RUN R
        WHERE RTRIM(R.BATCH_CD) = RTRIM(I.BATCH_CD)
          AND R.BATCH_NBR = I.BATCH_NBR
          AND R.BATCH_RERUN_NBR = I.BATCH_RERUN_NBR
          AND RTRIM(R.BATCH_CD) IN :batch_codes
          AND (
                (R.START_DTTM >= :window_start AND R.START_DTTM < :window_end
                 AND (R.END_DTTM IS NULL OR R.END_DTTM >= :window_start))
             OR (R.START_DTTM IS NULL AND R.BATCH_BUS_DT = :business_date)
          )
  )
ORDER BY I.BATCH_CD, I.BATCH_NBR, I.BATCH_RERUN_NBR, I.BATCH_THREAD_NBR, I.START_DTTM
