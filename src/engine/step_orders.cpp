#include "engine/step_orders.hpp"

#include <nlohmann/json.hpp>

#include <cstring>

namespace qwen3 {
namespace {

using nlohmann::json;

json optional_json(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }
std::optional<std::int64_t> optional_of(const json& j) { return j.is_null() ? std::nullopt : std::optional<std::int64_t>(j.get<std::int64_t>()); }

json request_json(const BatchRequest& r) {
  const SamplerOptions& s = r.sampling;
  json policy = nullptr;
  if (const auto& p = r.kv_policy)
    policy = {std::string(kv_policy_name(p->kind)), optional_json(p->sink), p->window, p->evict_chunk, optional_json(p->heavy)};
  return {r.id, r.prompt, r.max_new_tokens, r.stop_ids, r.top_logprobs,
          {s.temperature, s.top_k, s.top_p, s.min_p, s.repeat_penalty, s.repeat_last_n, s.seed}, policy};
}

BatchRequest request_of(const json& a) {
  BatchRequest r;
  r.id = a[0];
  r.prompt = a[1].get<std::vector<std::int32_t>>();
  r.max_new_tokens = a[2];
  r.stop_ids = a[3].get<std::vector<std::int32_t>>();
  r.top_logprobs = a[4];
  const json& s = a[5];
  r.sampling = {s[0].get<float>(), s[1].get<std::int32_t>(), s[2].get<float>(), s[3].get<float>(), s[4].get<float>(),
                s[5].get<std::int32_t>(), s[6].get<std::uint64_t>()};
  if (const json& p = a[6]; !p.is_null()) {
    KvPolicyOptions k(parse_kv_policy(p[0].get<std::string>()), optional_of(p[1]), p[2].get<std::int64_t>(), p[3].get<std::int64_t>());
    k.heavy = optional_of(p[4]);
    r.kv_policy = k;
  }
  return r;
}

}  // namespace

void share_orders(Communicator& world, StepOrders& orders, bool idle) {
  if (world.size() == 1) return;
  std::string text;
  if (world.rank() == 0) {
    json submit = json::array();
    for (const auto& r : orders.submit) submit.push_back(request_json(r));
    // CBOR: binary, so ids and floats travel exactly (a float's shortest decimal would round-trip too,
    // but this needs no argument).
    const std::vector<std::uint8_t> bytes = json::to_cbor(json{submit, orders.cancel, orders.stop});
    text.assign(bytes.begin(), bytes.end());
  }
  // Four bytes to an int32: the broadcast is typed.
  std::int32_t size[1] = {static_cast<std::int32_t>(text.size())};
  if (idle)
    world.broadcast_patiently(size, 0);
  else
    world.broadcast(size, 0);
  std::vector<std::int32_t> words((static_cast<std::size_t>(size[0]) + 3) / 4, 0);
  if (world.rank() == 0) std::memcpy(words.data(), text.data(), text.size());
  world.broadcast(words, 0);
  if (world.rank() == 0) return;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(words.data());
  const json all = json::from_cbor(bytes, bytes + size[0]);
  orders.submit.clear();
  for (const json& a : all[0]) orders.submit.push_back(request_of(a));
  orders.cancel = all[1].get<std::vector<std::string>>();
  orders.stop = all[2];
}

}  // namespace qwen3
