-- D1-IMD is complete once no initial measurement data is pending. Returns one number.
SELECT COUNT(*) AS PENDING_COUNT
FROM D1_INIT_MSRMT_DATA
WHERE BO_STATUS_CD = 'PENDING'
