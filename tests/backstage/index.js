// The test Backstage backend the aiops integration tests run against: the catalog (what
// the catalog adapter reads), the auth backend with the guest sign-in provider (real user
// tokens and a real JWKS), the scaffolder with Roadie's HTTP action (runs the rca-analyze
// template), and the proxy (forwards the user's token to rca-api).
// Port, tokens and the rca-api address come from the environment (see app-config.yaml),
// so the test script can pick free ports and fresh tokens for every run.
const { createBackend } = require('@backstage/backend-defaults');
const { createBackendModule, coreServices } = require('@backstage/backend-plugin-api');
const {
  authProvidersExtensionPoint,
  createProxyAuthenticator,
  createProxyAuthProviderFactory,
} = require('@backstage/plugin-auth-node');

// The guest provider signs in one configured user. The denied-path tests need a second,
// real Backstage user token, for a user whose groups own nothing the policy grants: this
// provider (`/api/auth/other-guest/refresh`) signs in `auth.providers.other-guest.userEntityRef`
// the same way, through the catalog, so the token's `ent` follows that user's `memberOf`.
const otherGuestProvider = createBackendModule({
  pluginId: 'auth',
  moduleId: 'other-guest-provider',
  register(reg) {
    reg.registerInit({
      deps: {
        providers: authProvidersExtensionPoint,
        config: coreServices.rootConfig,
      },
      async init({ providers, config }) {
        const userEntityRef = config.getString('auth.providers.other-guest.userEntityRef');
        providers.registerProvider({
          providerId: 'other-guest',
          factory: createProxyAuthProviderFactory({
            authenticator: createProxyAuthenticator({
              defaultProfileTransform: async () => ({ profile: {} }),
              initialize() {},
              async authenticate() {
                return { result: {} };
              },
            }),
            signInResolver: async (_, ctx) => ctx.signInWithCatalogUser({ entityRef: userEntityRef }),
          }),
        });
      },
    });
  },
});

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.add(require('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'));
backend.add(require('@backstage/plugin-auth-backend'));
backend.add(require('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(otherGuestProvider);
backend.add(require('@backstage/plugin-scaffolder-backend'));
backend.add(require('@roadiehq/scaffolder-backend-module-http-request'));
backend.add(require('@backstage/plugin-proxy-backend'));
backend.start();
