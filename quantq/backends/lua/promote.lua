-- scheduled -> queued for jobs whose run_at has come (bounded per call).
local n = promote(tonumber(ARGV[4]))
finish()
return n
