-- Messages logged by the threads of runs in error (or by threads in error), with their parameters.
-- Same bind parameters as batch_runs.sql, plus error_codes: the status codes that mean "error".
-- A site may replace this file (workflow field error_message_sql). The reader needs the columns
-- BATCH_CD, BATCH_NBR, BATCH_RERUN_NBR, BATCH_THREAD_NBR and MESSAGE_TEXT; optional ones:
-- SCHEDULER_ID, MESSAGE_SEQ_NBR, PARM_SEQ (pieces of one message are joined in PARM_SEQ order),
-- MESSAGE_CAT_NBR, MESSAGE_NBR (shown when a message has no text) and CRE_DTTM.
SELECT I.BATCH_CD, I.BATCH_NBR, I.BATCH_RERUN_NBR, I.BATCH_THREAD_NBR, L.SCHEDULER_ID,
       L.MESSAGE_SEQ_NBR, L.MESSAGE_CAT_NBR, L.MESSAGE_NBR, L.CRE_DTTM, P.PARM_SEQ,
       P.MESSAGE_PARM AS MESSAGE_TEXT
FROM CI_BATCH_RUN R
JOIN CI_BATCH_INST I
  ON I.BATCH_CD = R.BATCH_CD AND I.BATCH_NBR = R.BATCH_NBR AND I.BATCH_RERUN_NBR = R.BATCH_RERUN_NBR
JOIN CI_BATCH_THD T
  ON T.BATCH_CD = I.BATCH_CD AND T.BATCH_NBR = I.BATCH_NBR AND T.BATCH_RERUN_NBR = I.BATCH_RERUN_NBR
 AND T.BATCH_THREAD_NBR = I.BATCH_THREAD_NBR
JOIN CI_MSG_LOG L
  ON L.SCHEDULER_ID = I.SCHEDULER_ID
LEFT JOIN CI_MSG_LOGPARM P
  ON P.SCHEDULER_ID = L.SCHEDULER_ID AND P.MESSAGE_SEQ_NBR = L.MESSAGE_SEQ_NBR
WHERE RTRIM(R.BATCH_CD) IN :batch_codes
  AND (RTRIM(R.RUN_STATUS) IN :error_codes OR RTRIM(T.THREAD_STATUS) IN :error_codes)
  AND (
        (R.START_DTTM >= :window_start AND R.START_DTTM < :window_end
         AND (R.END_DTTM IS NULL OR R.END_DTTM >= :window_start))
     OR (R.START_DTTM IS NULL AND R.BATCH_BUS_DT = :business_date)
  )
ORDER BY I.BATCH_CD, I.BATCH_NBR, I.BATCH_RERUN_NBR, I.BATCH_THREAD_NBR, L.MESSAGE_SEQ_NBR, P.PARM_SEQ
