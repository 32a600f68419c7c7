-- wrk script: each connection sends one request, then idles (keep-alive) for 10 minutes.
-- wrk asks delay() before every request, the first included: the first ones of this
-- thread (its share of the connections, passed as the argument) go at once.
local share, asked = 0, 0
init = function(args) share = tonumber(args[1]) end
delay = function()
  asked = asked + 1
  if asked <= share then return 0 end
  return 600000
end
