// Payload of a `message` control frame: plugin messages relayed by the master.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hostd::ipc {

struct PluginMessage {
  enum Kind : uint8_t {
    Broadcast = 1,  ///< worker -> master: to every worker
    SendTo = 2,     ///< worker -> master: to the worker in slot `target`
    Deliver = 3,    ///< master -> worker: for the plugin's on_message
  };
  Kind kind = Deliver;
  bool includeSelf = true;  ///< Broadcast: the sender gets it too
  uint32_t target = 0;      ///< SendTo: slot id
  uint32_t from = 0;        ///< sender's slot id
  std::string topic, payload;
};

/// [kind u8][includeSelf u8][target u32][from u32][topic length u16][topic][payload]
std::string encodePluginMessage(const PluginMessage& m);
/// False if the bytes are not a well-formed message (the sender then broke the protocol).
bool decodePluginMessage(std::string_view bytes, PluginMessage* out);

}  // namespace hostd::ipc
