-- wrk script: one NOTIFY per request over keep-alive (the typing notification librvp
-- sends, from benches/fixtures/librvp-notify-typing.http; by default with RVP-Ack-Type
-- SingleHop, so that the server answers as soon as it has accepted it).
--
-- Environment: RVP_NODES  request paths, comma-separated; requests cycle through them
--                         (default /instmsg/aliases/bob)
--              RVP_FROM   RVP-From-Principal (default http://localhost/instmsg/aliases/alice)
--              RVP_ACK    RVP-Ack-Type (default SingleHop; DeepOr = answered once delivered)
-- By hand:     RVP_NODES=/instmsg/aliases/bob wrk -t1 -c32 -d10s -s notify.lua http://127.0.0.1:8080
local nodes = {}
for n in string.gmatch(os.getenv("RVP_NODES") or "/instmsg/aliases/bob", "[^,]+") do
  nodes[#nodes + 1] = n
end
local from = os.getenv("RVP_FROM") or "http://localhost/instmsg/aliases/alice"
local ack = os.getenv("RVP_ACK") or "SingleHop"

local mime = table.concat({
  "MIME-Version: 1.0",
  "Content-Type: text/x-msmsgscontrol; charset=UTF-8",
  "TypingUser: alice@localhost",
  "Session-Id: {AD60BC68-5217-1DD5-329A-B4F2E21D8A09}",
  "",
  "",
}, "\r\n")

local function body(node)
  return '<?xml version="1.0" encoding="UTF-8"?>\n'
    .. '<r:notification xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/" '
    .. 'xmlns:a="http://schemas.microsoft.com/rvp/acl/"><r:message><r:notification-from>'
    .. '<r:contact><d:href>' .. from .. '</d:href><r:description>Alice</r:description>'
    .. '</r:contact></r:notification-from><r:notification-to><r:contact><d:href>'
    .. 'http://localhost' .. node
    .. '</d:href><r:description>Bob</r:description></r:contact></r:notification-to>'
    .. '<r:msgbody><r:mime-data><![CDATA[' .. mime .. ']]></r:mime-data></r:msgbody>'
    .. '</r:message></r:notification>\n'
end

local requests = {}
local i = 0

function init(args)
  for k, node in ipairs(nodes) do
    requests[k] = wrk.format("NOTIFY", node, {
      ["Host"] = "localhost",
      ["RVP-Notifications-Version"] = "0.2",
      ["RVP-From-Principal"] = from,
      ["Content-Type"] = "text/xml",
      ["RVP-Hop-Count"] = "1",
      ["RVP-Ack-Type"] = ack,
    }, body(node))
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
