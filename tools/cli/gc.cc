// cairn gc (being written).
#include "cli.h"
namespace cairn_cli {
int RunGc(Env&, const std::vector<std::string>&) { throw CliError("not implemented yet"); }
}  // namespace cairn_cli
