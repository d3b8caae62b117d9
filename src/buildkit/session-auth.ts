import type { GrpcHandler } from './grpc-server.js';
import { decodeCredentialsRequest, encodeCredentialsResponse } from './messages.js';

export interface RegistryCredentials {
  /** host[:port] the credentials belong to, as in image names. */
  serveraddress: string;
  username: string;
  password: string;
}

/**
 * `/moby.filesync.v1.Auth/Credentials`: the engine asks, per registry host, when it pulls a base
 * image or cache from a registry during the build. Only the configured registry gets the robot
 * account; any other host gets empty credentials (anonymous), so the secret never leaves for a
 * registry named in a Dockerfile someone pushed.
 */
export function credentialsFor(auth: RegistryCredentials): GrpcHandler {
  return async (call) => {
    for await (const message of call.messages) {
      const { host } = decodeCredentialsRequest(message);
      const ours = host === auth.serveraddress;
      await call.send(encodeCredentialsResponse(ours ? { username: auth.username, secret: auth.password } : { username: '', secret: '' }));
      return;
    }
  };
}
