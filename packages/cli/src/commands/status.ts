/**
 * `hygeia status`: is the stack there? Connects to the gateway and the chain the way every other command does
 * (so a down service fails here with the same one-line message and exit 3) and prints the gateway's readiness.
 */
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { fields } from "../output.ts";
import { printedAddress } from "../ids.ts";
import type { Act } from "../program.ts";

interface Readiness {
  status?: string;
  checks?: Record<string, { ready: boolean; reason: string | null }>;
}

export function registerStatus(program: Command, act: Act): void {
  program
    .command("status")
    .description("check that the gateway and the chain answer, and show the gateway's readiness")
    .addHelpText(
      "after",
      `
Exit code 0 when everything is ready, 3 when the gateway or the chain cannot be reached or a part of the gateway
is not ready (the line names it).

Examples:
  $ hygeia status
  $ hygeia --gateway https://gateway.example.org --rpc https://rpc.example.org status`,
    )
    .action(
      act(async (cli: Cli) => {
        const connection = await cli.connection();
        const ready = await connection.transport.request<Readiness>("GET", "/readyz", { auth: false });
        const block = await connection.provider.getBlockNumber();
        const result = {
          gateway: connection.transport.url,
          rpc: connection.rpcUrl,
          chainId: connection.deployment.chainId,
          block,
          contracts: Object.fromEntries(
            Object.entries(connection.deployment.contracts).map(([name, address]) => [name, printedAddress(address)]),
          ) as typeof connection.deployment.contracts,
          ready: Object.fromEntries(Object.entries(ready.checks ?? {}).map(([part, check]) => [part, check.ready])),
        };
        cli.output.result(result, (r) =>
          fields([
            ["gateway", `${r.gateway} (ready)`],
            ["chain", `${r.rpc} (chain ${r.chainId}, block ${r.block})`],
            ["ConsentRegistry", r.contracts.ConsentRegistry],
            ["parts", Object.keys(r.ready).join(", ")],
          ]),
        );
      }),
    );
}
