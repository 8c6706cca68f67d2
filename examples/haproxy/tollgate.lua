-- Tollgate forward auth for HAProxy (2.6+, core.httpclient): docs/gateways.md, "HAProxy".
--
--   lua-load /etc/haproxy/tollgate.lua
--   http-request lua.tollgate_check "http://127.0.0.1:3000/check" "${TOLLGATE_GATEWAY_CREDENTIAL}"
--
-- Every request is described to Tollgate's /check as NGINX's auth_request does (X-Original-Method,
-- X-Original-URL, X-Real-IP), with the gateway's own credential and the caller's Authorization and
-- DPoP headers. On 200 the identity headers go to the upstream in place of any the client sent; on
-- anything else the client gets Tollgate's answer (status, WWW-Authenticate, DPoP-Nonce, body), and
-- when Tollgate cannot be asked the call is refused: it fails closed.

-- What reaches the client of a refusal (RFC 6750 §3, RFC 9449 §8, RFC 9110 §10.2.3).
local PASSED_ON = { "www-authenticate", "dpop-nonce", "x-tollgate-decision-id", "cache-control", "content-type", "retry-after" }
local TIMEOUT_MS = 5000

local function first(headers, name)
  local values = headers[name]
  if values == nil then return nil end
  -- txn.http:req_get_headers() numbers values from 0; httpclient's response from 1.
  return values[0] or values[1]
end

-- Every value of a request header, joined: a repeated Authorization or DPoP reaches /check as
-- sent (and is refused there), never just its first value.
local function joined(headers, name)
  local values = headers[name]
  if values == nil then return nil end
  local list = {}
  local i = 0
  while values[i] ~= nil do
    list[#list + 1] = values[i]
    i = i + 1
  end
  return table.concat(list, ", ")
end

local function refuse(txn, status, headers, body)
  local reply = txn:reply({ status = status })
  for _, name in ipairs(PASSED_ON) do
    local value = headers and first(headers, name)
    if value then reply:add_header(name, value) end
  end
  reply:set_body(body or "")
  txn:done(reply)
end

local function check(txn, check_url, credential)
  local sent = txn.http:req_get_headers()
  local scheme = txn.sf:ssl_fc() == "1" and "https" or "http"
  local host = first(sent, "host") or ""
  local headers = {
    ["x-original-method"] = { txn.sf:method() },
    ["x-original-url"] = { scheme .. "://" .. host .. txn.sf:pathq() },
    ["x-real-ip"] = { txn.sf:src() },
    ["x-gateway-authorization"] = { "Basic " .. credential },
  }
  local authorization = joined(sent, "authorization")
  if authorization then headers["authorization"] = { authorization } end
  local dpop = joined(sent, "dpop")
  if dpop then headers["dpop"] = { dpop } end

  local ok, res = pcall(function()
    return core.httpclient():get({ url = check_url, headers = headers, timeout = TIMEOUT_MS })
  end)
  if not ok or res == nil or res.status == nil or res.status == 0 then
    -- Tollgate could not be asked: fail closed.
    return { status = 503, body = '{"error":"temporarily_unavailable","error_description":"the authorization server cannot be reached"}' }
  end
  if res.status ~= 200 then
    return { status = res.status, headers = res.headers, body = res.body }
  end

  -- Allowed. Names a client may have forged are removed first, then Tollgate's are set.
  for name, _ in pairs(sent) do
    if string.sub(name, 1, 11) == "x-tollgate-" then txn.http:req_del_header(name) end
  end
  txn.http:req_del_header("x-gateway-authorization")
  for name, values in pairs(res.headers) do
    if string.sub(name, 1, 11) == "x-tollgate-" then txn.http:req_set_header(name, first(res.headers, name)) end
  end
end

core.register_action("tollgate_check", { "http-req" }, function(txn, check_url, credential)
  -- A Lua error would let the request continue to the upstream: refuse it instead. (txn:done
  -- ends the Lua execution by raising, so it is called outside the pcall.)
  local ok, refusal = pcall(check, txn, check_url, credential)
  if not ok then
    txn:Alert("tollgate_check failed: " .. tostring(refusal))
    refusal = { status = 500, body = '{"error":"server_error","error_description":"the gateway could not check this call"}' }
  end
  if refusal then refuse(txn, refusal.status, refusal.headers, refusal.body) end
end, 2)
