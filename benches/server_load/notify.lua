-- wrk script: one SingleHop NOTIFY per request over keep-alive (the typing notification
-- librvp sends, from benches/fixtures/librvp-notify-typing.http, with RVP-Ack-Type
-- SingleHop so that the server answers as soon as it has queued the delivery).
--
-- Environment: RVP_NODE   request path (default /instmsg/aliases/bob)
--              RVP_FROM   RVP-From-Principal (default http://localhost/instmsg/aliases/alice)
-- By hand:     RVP_NODE=/instmsg/aliases/bob wrk -t1 -c32 -d10s -s notify.lua http://127.0.0.1:8080
local node = os.getenv("RVP_NODE") or "/instmsg/aliases/bob"
local from = os.getenv("RVP_FROM") or "http://localhost/instmsg/aliases/alice"
local to = "http://localhost" .. node

local mime = table.concat({
  "MIME-Version: 1.0",
  "Content-Type: text/x-msmsgscontrol; charset=UTF-8",
  "TypingUser: alice@localhost",
  "Session-Id: {AD60BC68-5217-1DD5-329A-B4F2E21D8A09}",
  "",
  "",
}, "\r\n")

wrk.method = "NOTIFY"
wrk.path = node
wrk.headers["Host"] = "localhost"
wrk.headers["RVP-Notifications-Version"] = "0.2"
wrk.headers["RVP-From-Principal"] = from
wrk.headers["Content-Type"] = "text/xml"
wrk.headers["RVP-Hop-Count"] = "1"
wrk.headers["RVP-Ack-Type"] = "SingleHop"
wrk.body = '<?xml version="1.0" encoding="UTF-8"?>\n'
  .. '<r:notification xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/" '
  .. 'xmlns:a="http://schemas.microsoft.com/rvp/acl/"><r:message><r:notification-from>'
  .. '<r:contact><d:href>' .. from .. '</d:href><r:description>Alice</r:description>'
  .. '</r:contact></r:notification-from><r:notification-to><r:contact><d:href>' .. to
  .. '</d:href><r:description>Bob</r:description></r:contact></r:notification-to>'
  .. '<r:msgbody><r:mime-data><![CDATA[' .. mime .. ']]></r:mime-data></r:msgbody>'
  .. '</r:message></r:notification>\n'
