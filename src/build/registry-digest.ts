// Moved to registry/ (issue 4); the build code keeps importing it from here.
export { manifestDigest, registryBaseUrl, type RegistryAuth } from '../registry/registry-digest.js';
