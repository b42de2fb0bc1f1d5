// Errors by the names Helia, libp2p and interface-store callers branch on: they compare `error.name`
// (interface-store's NotFoundError / NotStartedError), so our stores must use exactly these names.
function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export const notFoundError = (message: string): Error => namedError("NotFoundError", message);

export const notStartedError = (message: string): Error => namedError("NotStartedError", message);
