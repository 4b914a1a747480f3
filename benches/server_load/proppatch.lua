-- wrk script: PROPPATCH of a principal's own leased r:state over keep-alive, alternating
-- online / busy from one request to the next (per wrk thread), so that nearly every request
-- is a real presence change. No r:view-id: the server binds it to the caller's view.
--
-- Environment: RVP_NODE   request path (default /instmsg/aliases/alice)
--              RVP_FROM   RVP-From-Principal (default http://localhost + RVP_NODE)
-- By hand:     wrk -t1 -c32 -d10s -s proppatch.lua http://127.0.0.1:8080
-- (against a server with `require_auth = false`: the principal is asserted, not proven)
local node = os.getenv("RVP_NODE") or "/instmsg/aliases/alice"
local from = os.getenv("RVP_FROM") or ("http://localhost" .. node)
local states = { "online", "busy" }
local requests = {}
local i = 0

local function body(state)
  return "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d='DAV:' "
    .. "xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'>"
    .. "<d:set><d:prop><r:state><r:leased-value><r:value><r:" .. state .. "/></r:value>"
    .. "<r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout>"
    .. "</r:leased-value></r:state></d:prop></d:set></d:propertyupdate>"
end

function init(args)
  for k, state in ipairs(states) do
    requests[k] = wrk.format("PROPPATCH", node, {
      ["Host"] = "localhost",
      ["RVP-Notifications-Version"] = "0.2",
      ["RVP-From-Principal"] = from,
      ["Content-Type"] = "text/xml",
    }, body(state))
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
