-- wrk script: every 10th request is CPU-heavy (/burn?ms=2), the rest are cheap.
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then
    return wrk.format("GET", "/burn?ms=2")
  end
  return wrk.format("GET", "/")
end
