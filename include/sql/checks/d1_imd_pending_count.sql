-- D1-IMD is complete once no initial measurement data of its business day is pending. Returns one number.
-- Only IMDs created before the end of the business day this check is read for count (day_end, in
-- the CC&B server's clock): re-judging yesterday the next morning must not see the IMDs that
-- arrived for today. Older IMDs still pending count too: they hold the day up.
SELECT COUNT(*) AS PENDING_COUNT
FROM D1_INIT_MSRMT_DATA
WHERE BO_STATUS_CD = 'PENDING'
  AND CRE_DTTM < :day_end
