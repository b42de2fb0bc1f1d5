// The SDK as the CLI uses it: one import site, so a rename in @hygeia/sdk changes only this file.
export * from "@hygeia/sdk";
