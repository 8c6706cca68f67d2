// Tollgate step-up for machine workloads, from docs/step-up.md alone, JDK 17 only.
//
//   java examples/java/StepUp.java <issuer> <client_id> <client-key-pkcs8.pem> <resource>
//   java examples/java/StepUp.java --public-jwk <client-key-pkcs8.pem>   (JWK to register, kid "k1")
//
// Flow: a client_credentials token (acr key), then a step-up to urn:tollgate:acr:live:
// POST /step-up/challenges (docs/step-up.md §3) and the step-up grant at the token endpoint (§4),
// both with the same in-memory DPoP key (RFC 9449). Tokens, assertions and nonces are never printed.

import java.math.BigInteger;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.*;
import java.security.interfaces.ECPublicKey;
import java.security.spec.*;
import java.util.*;

public class StepUp {
    static final String LIVE = "urn:tollgate:acr:live";
    static final Base64.Encoder B64U = Base64.getUrlEncoder().withoutPadding();
    static final SecureRandom RNG = new SecureRandom();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("--public-jwk")) {
            byte[] der = readPem(args[1]);
            System.out.println("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + b64(Arrays.copyOfRange(publicPoint(der), 1, 33))
                + "\",\"y\":\"" + b64(Arrays.copyOfRange(publicPoint(der), 33, 65)) + "\",\"kid\":\"k1\",\"alg\":\"ES256\",\"use\":\"sig\"}");
            return;
        }
        if (args.length != 4) {
            System.err.println("usage: java StepUp.java <issuer> <client_id> <client-key-pkcs8.pem> <resource>");
            System.exit(2);
        }
        String issuer = args[0].replaceAll("/+$", ""), clientId = args[1], resource = args[3];
        PrivateKey clientKey = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(readPem(args[2])));

        // 1. The DPoP key pair (RFC 9449 §4.2: an asymmetric key, public half as a JWK in the proof header).
        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
        gen.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair dpop = gen.generateKeyPair();
        String jwk = publicJwk((ECPublicKey) dpop.getPublic());
        String jkt = b64(MessageDigest.getInstance("SHA-256").digest(jwk.getBytes(StandardCharsets.UTF_8))); // RFC 7638

        // Endpoints from discovery (§8, RFC 8414); fall back to the README's paths.
        String tokenEndpoint = issuer + "/oauth/token", challengeEndpoint = issuer + "/step-up/challenges";
        HttpResponse<String> meta = HTTP.send(HttpRequest.newBuilder(URI.create(issuer + "/.well-known/openid-configuration")).GET().build(),
            HttpResponse.BodyHandlers.ofString());
        System.out.println("discovery: " + meta.statusCode());
        if (meta.statusCode() == 200) {
            Map<String, Object> m = Json.obj(meta.body());
            tokenEndpoint = (String) m.getOrDefault("token_endpoint", tokenEndpoint);
            challengeEndpoint = (String) m.getOrDefault("step_up_challenge_endpoint", challengeEndpoint);
        }

        // 2. A normal token: client_credentials + private_key_jwt (RFC 7523 §2.2) + DPoP (RFC 9449 §5).
        Map<String, String> form = new LinkedHashMap<>();
        form.put("grant_type", "client_credentials");
        form.put("client_id", clientId);
        form.put("resource", resource); // RFC 8707
        HttpResponse<String> r = postWithNonceRetry(tokenEndpoint, form, clientKey, clientId, issuer, dpop, jwk);
        System.out.println("token (client_credentials): " + r.statusCode()
            + (r.statusCode() == 200 ? " acr=" + claims(r).get("acr") : ""));
        // §2: the risk engine may already refuse the key level with 401 insufficient_user_authentication
        // (RFC 9470 §3); the answer to that is the same step-up, so only other failures stop here.
        boolean askedToStepUp = r.statusCode() == 401 && r.body().contains("\"insufficient_user_authentication\"");
        if (r.statusCode() != 200 && !askedToStepUp) fail(r);
        if (askedToStepUp) System.out.println("  asked to step up: acr_values=" + Json.obj(r.body()).get("acr_values"));

        // 3. A challenge (§3): authenticated like the token endpoint, DPoP proof for this endpoint's URL,
        //    signed with the key the new token will be bound to.
        form = new LinkedHashMap<>();
        form.put("client_id", clientId);
        form.put("acr_values", LIVE);
        r = postWithNonceRetry(challengeEndpoint, form, clientKey, clientId, issuer, dpop, jwk);
        if (r.statusCode() != 201) { System.out.println("step-up challenge: " + r.statusCode()); fail(r); }
        Map<String, Object> ch = Json.obj(r.body());
        System.out.println("step-up challenge: " + r.statusCode() + " acr_values=" + ch.get("acr_values")
            + " methods=" + ch.get("methods") + " expires_in=" + ch.get("expires_in"));
        String challengeId = (String) ch.get("challenge_id"), challengeNonce = (String) ch.get("nonce");

        // 4. The step-up grant (§4): a NEW client assertion carrying "nonce" = challenge nonce, and a DPoP
        //    proof for the token endpoint, same key, whose nonce claim is the challenge nonce (it stands in
        //    for a server nonce, RFC 9449 §8). The challenge is spent by this answer: no retry.
        form = new LinkedHashMap<>();
        form.put("grant_type", "urn:tollgate:params:oauth:grant-type:step-up");
        form.put("challenge_id", challengeId);
        form.put("client_id", clientId);
        form.put("resource", resource);
        form.put("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        form.put("client_assertion", clientAssertion(clientKey, clientId, issuer, challengeNonce));
        r = post(tokenEndpoint, form, dpopProof(dpop, jwk, "POST", tokenEndpoint, challengeNonce));
        System.out.println("token (step-up grant): " + r.statusCode());
        if (r.statusCode() != 200) fail(r);

        // 5. Check the token (RFC 9068 JWT; RFC 9470 §2 acr/auth_time; RFC 8176 amr; RFC 9449 §6.1 cnf.jkt).
        Map<String, Object> at = claims(r);
        Object cnf = at.get("cnf");
        Object tokenJkt = cnf instanceof Map ? ((Map<?, ?>) cnf).get("jkt") : null;
        System.out.println("token_type=" + Json.obj(r.body()).get("token_type"));
        System.out.println("acr=" + at.get("acr") + " amr=" + at.get("amr") + " auth_time=" + at.get("auth_time"));
        System.out.println("cnf.jkt=" + tokenJkt);
        System.out.println("dpop key thumbprint (RFC 7638)=" + jkt);
        boolean ok = LIVE.equals(at.get("acr")) && at.get("amr") instanceof List
            && ((List<?>) at.get("amr")).contains("pop") && jkt.equals(tokenJkt);
        System.out.println(ok ? "OK: stepped up to " + LIVE : "FAILED: token is not a live, pop, bound token");
        System.exit(ok ? 0 : 1);
    }

    // POST with a fresh client assertion and DPoP proof; on 400 use_dpop_nonce, retry once with the
    // server's DPoP-Nonce (RFC 9449 §8; §3 of the spec for the challenge endpoint).
    static HttpResponse<String> postWithNonceRetry(String url, Map<String, String> form, PrivateKey clientKey, String clientId,
                                                   String issuer, KeyPair dpop, String jwk) throws Exception {
        String nonce = null;
        for (int attempt = 0; ; attempt++) {
            Map<String, String> f = new LinkedHashMap<>(form);
            f.put("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            f.put("client_assertion", clientAssertion(clientKey, clientId, issuer, null)); // jti is single use: new one each try
            HttpResponse<String> r = post(url, f, dpopProof(dpop, jwk, "POST", url, nonce));
            Optional<String> serverNonce = r.headers().firstValue("DPoP-Nonce");
            if (attempt == 0 && r.statusCode() == 400 && serverNonce.isPresent() && r.body().contains("\"use_dpop_nonce\"")) {
                System.out.println("  " + URI.create(url).getPath() + ": 400 use_dpop_nonce, retrying with the server nonce");
                nonce = serverNonce.get();
                continue;
            }
            return r;
        }
    }

    static HttpResponse<String> post(String url, Map<String, String> form, String proof) throws Exception {
        StringJoiner body = new StringJoiner("&");
        form.forEach((k, v) -> body.add(URLEncoder.encode(k, StandardCharsets.UTF_8) + "=" + URLEncoder.encode(v, StandardCharsets.UTF_8)));
        HttpRequest req = HttpRequest.newBuilder(URI.create(url))
            .header("Content-Type", "application/x-www-form-urlencoded").header("DPoP", proof)
            .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        return HTTP.send(req, HttpResponse.BodyHandlers.ofString());
    }

    // RFC 7523 §3 client assertion: iss = sub = client_id, aud = issuer, exp = iat + 60, single-use jti;
    // plus "nonce" = challenge nonce for the step-up grant (§4).
    static String clientAssertion(PrivateKey key, String clientId, String issuer, String nonce) throws Exception {
        long now = System.currentTimeMillis() / 1000;
        String claims = "{\"iss\":" + Json.str(clientId) + ",\"sub\":" + Json.str(clientId) + ",\"aud\":" + Json.str(issuer)
            + ",\"jti\":" + Json.str(randomId()) + ",\"iat\":" + now + ",\"exp\":" + (now + 60)
            + (nonce != null ? ",\"nonce\":" + Json.str(nonce) : "") + "}";
        return jws("{\"alg\":\"ES256\",\"kid\":\"k1\"}", claims, key);
    }

    // RFC 9449 §4.2 DPoP proof: typ dpop+jwt, alg ES256, jwk = public key; jti, htm, htu, iat (+ nonce).
    static String dpopProof(KeyPair dpop, String jwk, String htm, String htu, String nonce) throws Exception {
        String claims = "{\"jti\":" + Json.str(randomId()) + ",\"htm\":" + Json.str(htm) + ",\"htu\":" + Json.str(htu)
            + ",\"iat\":" + System.currentTimeMillis() / 1000 + (nonce != null ? ",\"nonce\":" + Json.str(nonce) : "") + "}";
        return jws("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":" + jwk + "}", claims, dpop.getPrivate());
    }

    // JWS compact serialization (RFC 7515) with ES256 (RFC 7518 §3.4: signature is R || S, 32 bytes each).
    static String jws(String header, String claims, PrivateKey key) throws Exception {
        String input = b64(header.getBytes(StandardCharsets.UTF_8)) + "." + b64(claims.getBytes(StandardCharsets.UTF_8));
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(key);
        s.update(input.getBytes(StandardCharsets.US_ASCII));
        return input + "." + b64(derToRaw(s.sign()));
    }

    // DER SEQUENCE { INTEGER r, INTEGER s } -> fixed 64-byte R || S.
    static byte[] derToRaw(byte[] der) {
        int i = 2;                                   // skip SEQUENCE tag + length (< 128 for P-256)
        if ((der[1] & 0xff) == 0x81) i = 3;          // long-form length, just in case
        byte[] out = new byte[64];
        for (int n = 0; n < 2; n++) {
            int len = der[i + 1];                    // INTEGER tag at der[i]
            byte[] v = Arrays.copyOfRange(der, i + 2, i + 2 + len);
            System.arraycopy(unsigned32(new BigInteger(1, v)), 0, out, n * 32, 32);
            i += 2 + len;
        }
        return out;
    }

    // RFC 7638 §3.2: the public JWK with exactly the required members in lexicographic order, no spaces;
    // the same string serves as the "jwk" header of the proof.
    static String publicJwk(ECPublicKey k) {
        return "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + b64(unsigned32(k.getW().getAffineX()))
            + "\",\"y\":\"" + b64(unsigned32(k.getW().getAffineY())) + "\"}";
    }

    static byte[] unsigned32(BigInteger v) {
        byte[] b = v.toByteArray(), out = new byte[32];
        int n = Math.min(b.length, 32);
        System.arraycopy(b, b.length - n, out, 32 - n, n);
        return out;
    }

    // The public point 04||X||Y that OpenSSL keeps in the PKCS#8 key (SEC1 ECPrivateKey publicKey [1]:
    // a1 44 03 42 00 04 ...). The JDK has no public API to derive it from the private scalar.
    static byte[] publicPoint(byte[] der) {
        for (int i = 0; i + 6 + 64 <= der.length; i++)
            if ((der[i] & 0xff) == 0xa1 && der[i + 1] == 0x44 && der[i + 2] == 0x03 && der[i + 3] == 0x42 && der[i + 4] == 0 && der[i + 5] == 4)
                return Arrays.copyOfRange(der, i + 5, i + 5 + 65);
        throw new IllegalArgumentException("no public key in this PKCS#8 file (generate it with openssl as in the README)");
    }

    static byte[] readPem(String file) throws Exception {
        String pem = Files.readString(Path.of(file)).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(pem);
    }

    static Map<String, Object> claims(HttpResponse<String> tokenResponse) {
        String at = (String) Json.obj(tokenResponse.body()).get("access_token");
        return Json.obj(new String(Base64.getUrlDecoder().decode(at.split("\\.")[1]), StandardCharsets.UTF_8));
    }

    static void fail(HttpResponse<String> r) {
        System.out.println("error: " + r.body()); // RFC 6749 §5.2 body: error, error_description (no secrets)
        r.headers().firstValue("WWW-Authenticate").ifPresent(h -> System.out.println("WWW-Authenticate: " + h));
        System.exit(1);
    }

    static String randomId() { byte[] b = new byte[16]; RNG.nextBytes(b); return b64(b); }
    static String b64(byte[] b) { return B64U.encodeToString(b); }

    // A minimal JSON reader (objects, arrays, strings, numbers, literals) and string writer.
    static final class Json {
        private final String s; private int i;
        private Json(String s) { this.s = s; }
        @SuppressWarnings("unchecked")
        static Map<String, Object> obj(String text) { return (Map<String, Object>) new Json(text).value(); }

        static String str(String v) {
            StringBuilder b = new StringBuilder("\"");
            for (char c : v.toCharArray()) {
                if (c == '"' || c == '\\') b.append('\\').append(c);
                else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                else b.append(c);
            }
            return b.append('"').toString();
        }

        private Object value() {
            ws();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>(); i++; ws();
                if (s.charAt(i) == '}') { i++; return m; }
                do { ws(); String k = string(); ws(); expect(':'); m.put(k, value()); ws(); } while (s.charAt(i++) == ',');
                if (s.charAt(i - 1) != '}') throw new IllegalArgumentException("bad JSON object at " + i);
                return m;
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>(); i++; ws();
                if (s.charAt(i) == ']') { i++; return l; }
                do { l.add(value()); ws(); } while (s.charAt(i++) == ',');
                if (s.charAt(i - 1) != ']') throw new IllegalArgumentException("bad JSON array at " + i);
                return l;
            }
            if (c == '"') return string();
            if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
            if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
            if (s.startsWith("null", i)) { i += 4; return null; }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            String num = s.substring(start, i);
            return num.matches("-?\\d+") ? (Object) Long.valueOf(num) : (Object) Double.valueOf(num);
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            for (char c; (c = s.charAt(i++)) != '"'; ) {
                if (c != '\\') { b.append(c); continue; }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e); // \" \\ \/
                }
            }
            return b.toString();
        }

        private void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }
        private void expect(char c) { if (s.charAt(i++) != c) throw new IllegalArgumentException("expected " + c + " at " + (i - 1)); }
    }
}
