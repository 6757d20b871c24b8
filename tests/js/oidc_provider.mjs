// A real OpenID Connect provider for the tests: panva's certified `oidc-provider`, its
// development login pages (any name logs in), client credentials and the device flow.
// Usage: node oidc_provider.mjs CONFIG.json
// CONFIG: {port, issuer, keys: [private JWKs], audience, opaque_clients: [ids],
//          clients: [oidc-provider client metadata], access_token_ttl_s}
// Clients not in opaque_clients get JWT access tokens for `audience` (RFC 9068); the others
// get opaque tokens that only the userinfo endpoint can vouch for.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const opaque = new Set(config.opaque_clients ?? []);
const ttl = config.access_token_ttl_s ?? 600;

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.keys },
  scopes: ["openid", "profile", "email", "offline_access"],
  claims: { openid: ["sub"], profile: ["name", "preferred_username"], email: ["email"] },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: `User ${id}`, preferred_username: id, email: `${id}@example.org` }),
  }),
  ttl: { AccessToken: ttl, ClientCredentials: ttl, DeviceCode: 300 },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client) => (opaque.has(client.clientId) ? undefined : config.audience),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: "openid profile email",
        audience: resource,
        accessTokenTTL: ttl,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  // The device flow's consent: every scope asked for is granted at once.
  loadExistingGrant: async (ctx) => {
    const grant = new provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile email offline_access");
    grant.addResourceScope(config.audience, "openid profile email");
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(config.port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
