-- wrk script: POST of a 4 KiB body to /echo, which sends it back.
wrk.method = "POST"
wrk.path = "/echo"
wrk.body = string.rep("p", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
