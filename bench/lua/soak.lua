-- Memory soak: every request is a new conversation. Distinct x-session-id, distinct conversation prefix,
-- distinct model name (up/model-<i>), a mix of Chat (JSON and stream) and Responses; half the Responses
-- requests continue the last new stored response (previous_response_id), the others start a new one, so every
-- Responses answer is a new stored response id. After BENCH_SOAK_REQUESTS answers it prints
-- BENCH_RESULT {json} and exits (run it with -t1 and a -d longer than the soak).

function init(args)
   quota = tonumber(os.getenv("BENCH_SOAK_REQUESTS"))
   prefix = os.getenv("BENCH_SOAK_PREFIX") or "soak"
   auth = "Bearer " .. os.getenv("BENCH_KEY")
   sent = 0
   answered = 0
   bad = 0
   bad_status = 0
   last_response = nil
end

function request()
   local i = sent
   sent = sent + 1
   local kind = i % 4
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = auth,
      ["x-session-id"] = string.format("%s-session-%d", prefix, i),
   }
   local model = string.format("up/model-%d", i)
   local text = string.format("Conversation %s-%d starts here. Please answer briefly.", prefix, i)
   if kind < 2 then
      local body = string.format(
         '{"model": "%s", "stream": %s, "messages": [{"role": "system", "content": "You are agent %d."}, '
            .. '{"role": "user", "content": "%s"}]}',
         model, kind == 1 and "true" or "false", i, text)
      return wrk.format("POST", "/llm/v1/chat/completions", headers, body)
   end
   local previous = ""
   if kind == 3 and last_response then
      previous = string.format(', "previous_response_id": "%s"', last_response)
   end
   local body = string.format('{"model": "%s", "input": "%s", "store": true%s}', model, text, previous)
   return wrk.format("POST", "/llm/v1/responses", headers, body)
end

function response(status, headers, body)
   answered = answered + 1
   if status ~= 200 then
      bad = bad + 1
      bad_status = status
      if bad <= 3 then  -- what the gateway said, for the bench to show (stderr, one line each)
         io.stderr:write(string.format("BENCH_BAD %d %s\n", status, string.sub(string.gsub(body, "\n", " "), 1, 400)))
      end
   else
      -- Continue only a conversation's first answer: chaining continuations would grow one conversation
      -- past responses.max_depth (a 400 by design), not many distinct ones.
      local id = string.match(body, '"id"%s*:%s*"(resp_[^"]+)"')
      if id and string.find(body, '"previous_response_id"%s*:%s*null') then
         last_response = id
      end
   end
   if answered >= quota then
      -- thread:stop() would leave wrk running until -d ends: report and leave at once (run with -t1).
      io.write(string.format('BENCH_RESULT {"answered": %d, "non_200": %d, "last_bad_status": %d}\n',
         answered, bad, bad_status))
      io.flush()
      os.exit(0)
   end
end
