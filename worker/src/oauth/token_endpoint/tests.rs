use serde_json::Value;

use super::*;
use crate::oauth::authorize::{PendingAuthorization, SIGN_IN_TTL_MS};
use crate::oauth::memory_kv::MemoryKv;
use crate::oauth::pkce::{CodeChallenge, s256};
use crate::oauth::registration::{RegistrationRandom, register};
use crate::oauth::scope::Scope;
use crate::oauth::storage::{client_key, code_key};
use crate::oauth::tokens::{AccessRecord, REFRESH_PREFIX};

const NOW: u64 = 1_750_000_000_000;
const USER: u64 = 42;
const REDIRECT: &str = "http://127.0.0.1:33418/callback";

fn verifier() -> String {
    "verifier-".repeat(6)
}

struct Fixture {
    urls: ServerUrls,
    allowlist: Allowlist,
    registration: RegistrationPolicy,
    kv: MemoryKv,
    client: ClientRecord,
    seed: u8,
}

impl Fixture {
    fn new(grant_types: &[&str]) -> Self {
        let body = serde_json::json!({
            "redirect_uris": [REDIRECT],
            "grant_types": grant_types,
            "client_name": "Test"
        });
        let registration = RegistrationPolicy::default();
        let reg = register(
            body.to_string().as_bytes(),
            &registration,
            NOW,
            &RegistrationRandom {
                client_id: [1; 16],
                client_secret: [2; 32],
            },
        )
        .unwrap();
        let mut kv = MemoryKv::default();
        kv.apply(&[reg.record.write(NOW)], NOW);
        Fixture {
            urls: ServerUrls::new("https://brain.example.com").unwrap(),
            allowlist: Allowlist::parse(&USER.to_string()).unwrap(),
            registration,
            kv,
            client: reg.record,
            seed: 10,
        }
    }

    fn context(&self) -> TokenContext<'_> {
        TokenContext {
            urls: &self.urls,
            allowlist: &self.allowlist,
            lifetimes: Lifetimes::default(),
            registration: &self.registration,
        }
    }

    fn random(&mut self) -> IssueRandom {
        self.seed = self.seed.wrapping_add(3);
        IssueRandom {
            access: [self.seed; 32],
            refresh: [self.seed.wrapping_add(1); 32],
            grant_id: [self.seed; 16],
        }
    }

    /// A code for USER, as the callback would issue it.
    fn code(&mut self, redirect_uri_given: bool, now: u64) -> String {
        let pending = PendingAuthorization {
            flow_id: "f".into(),
            client_id: self.client.client_id.clone(),
            redirect_uri: REDIRECT.into(),
            redirect_uri_given,
            code_challenge: CodeChallenge::parse(Some(&s256(&verifier())), Some("S256")).unwrap(),
            state: None,
            resource: self.urls.resource(),
            scope: ScopeSet::ALL,
            csrf_token: "c".into(),
            upstream_state: Some("u".into()),
            created_at_ms: now,
            expires_at_ms: now + SIGN_IN_TTL_MS,
        };
        self.seed = self.seed.wrapping_add(1);
        let issued =
            CodeRecord::issue(&pending, USER, now, &Lifetimes::default(), &[self.seed; 32]);
        self.kv.apply(&[issued.write], now);
        issued.code
    }

    /// Runs a token request through parse, lookups, decision and writes, like the adapter.
    fn token(&mut self, form: &[(&str, &str)], now: u64) -> (u16, Value) {
        let params = Params::from_pairs(form.iter().copied());
        let request = match TokenRequest::parse(&params, None) {
            Ok(request) => request,
            Err(err) => {
                let reply = err.reply();
                return (reply.status, serde_json::from_str(&reply.body).unwrap());
            }
        };
        let client: Option<ClientRecord> = self.kv.get_json(&client_key(request.client_id()), now);
        let random = self.random();
        let outcome = match request {
            TokenRequest::Code(exchange) => {
                let code: Option<CodeRecord> = self.kv.get_json(&exchange.code_key(), now);
                let prior: Option<Grant> = code
                    .as_ref()
                    .and_then(|code| code.redeemed_grant.as_deref())
                    .and_then(|id| self.kv.get_json(&grant_key(id), now));
                exchange.redeem(
                    code,
                    client.as_ref(),
                    prior.as_ref(),
                    &self.context(),
                    now,
                    &random,
                )
            }
            TokenRequest::Refresh(exchange) => {
                let record: Option<RefreshRecord> = self.kv.get_json(&exchange.refresh_key(), now);
                let grant: Option<Grant> = record
                    .as_ref()
                    .and_then(|record| self.kv.get_json(&RefreshExchange::grant_key(record), now));
                exchange.rotate(
                    record,
                    grant,
                    client.as_ref(),
                    &self.context(),
                    now,
                    &random,
                )
            }
        };
        self.kv.apply(&outcome.writes, now);
        let body = serde_json::from_str(&outcome.reply.body).unwrap();
        (outcome.reply.status, body)
    }

    fn redeem(&mut self, code: &str, now: u64) -> (u16, Value) {
        let client_id = self.client.client_id.clone();
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier()),
                ("client_id", &client_id),
                ("resource", "https://brain.example.com/mcp"),
            ],
            now,
        )
    }

    fn refresh(&mut self, token: &str, now: u64) -> (u16, Value) {
        let client_id = self.client.client_id.clone();
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", &client_id),
            ],
            now,
        )
    }

    fn access_is_live(&self, token: &Value, now: u64) -> bool {
        let token = token.as_str().unwrap();
        self.kv
            .get_json::<AccessRecord>(&access_key(&hash_token(token)), now)
            .is_some()
    }
}

fn error_of(response: &(u16, Value)) -> (u16, &str) {
    (response.0, response.1["error"].as_str().unwrap_or("none"))
}

#[test]
fn a_code_becomes_tokens_once() {
    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let (status, body) = f.redeem(&code, NOW + 1000);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "notes:read notes:write");
    assert!(
        body["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with(REFRESH_PREFIX)
    );
    assert!(f.access_is_live(&body["access_token"], NOW + 1000));
    assert_eq!(f.kv.count("grant:", NOW + 1000), 1);
    // The client's registration was renewed.
    let client: ClientRecord =
        f.kv.get_json(&client_key(&f.client.client_id), NOW)
            .unwrap();
    assert_eq!(
        client.expires_at_ms,
        NOW + 1000 + f.registration.client_ttl_ms
    );
}

#[test]
fn a_reused_code_is_refused_and_revokes_what_it_produced() {
    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let (_, first) = f.redeem(&code, NOW + 1000);
    let again = f.redeem(&code, NOW + 2000);
    assert_eq!(error_of(&again), (400, "invalid_grant"));
    assert!(!f.access_is_live(&first["access_token"], NOW + 2000));
    assert_eq!(f.kv.count("grant:", NOW + 2000), 0);
    let refresh = f.refresh(first["refresh_token"].as_str().unwrap(), NOW + 3000);
    assert_eq!(error_of(&refresh), (400, "invalid_grant"));
}

#[test]
fn a_wrong_pkce_verifier_is_refused_and_burns_the_code() {
    let mut f = Fixture::new(&["authorization_code"]);
    let code = f.code(true, NOW);
    let client_id = f.client.client_id.clone();
    let wrong = "x".repeat(43);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", wrong.as_str()),
        ("client_id", client_id.as_str()),
    ];
    assert_eq!(error_of(&f.token(&form, NOW + 1)), (400, "invalid_grant"));
    // Even the right verifier cannot use it now.
    assert_eq!(error_of(&f.redeem(&code, NOW + 2)), (400, "invalid_grant"));
    let code = f.code(true, NOW);
    let missing: Vec<_> = form
        .iter()
        .copied()
        .filter(|(name, _)| *name != "code_verifier")
        .map(|(name, value)| (name, if name == "code" { code.as_str() } else { value }))
        .collect();
    assert_eq!(
        error_of(&f.token(&missing, NOW + 3)),
        (400, "invalid_grant")
    );
}

#[test]
fn a_mismatched_redirect_uri_is_refused() {
    let mut f = Fixture::new(&["authorization_code"]);
    let client_id = f.client.client_id.clone();
    for redirect in ["http://127.0.0.1:33419/callback", ""] {
        let code = f.code(true, NOW);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier()),
            ("client_id", client_id.as_str()),
        ];
        assert_eq!(
            error_of(&f.token(&form, NOW + 1)),
            (400, "invalid_grant"),
            "{redirect:?}"
        );
    }
    // Omitted in both requests is fine (OAuth 2.1 with a single registered URI).
    let code = f.code(false, NOW);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", &verifier()),
        ("client_id", client_id.as_str()),
    ];
    assert_eq!(f.token(&form, NOW + 1).0, 200);
}

#[test]
fn codes_expire_and_belong_to_their_client() {
    let mut f = Fixture::new(&["authorization_code"]);
    let code = f.code(true, NOW);
    assert_eq!(
        error_of(&f.redeem(&code, NOW + 60_000)),
        (400, "invalid_grant")
    );
    assert_eq!(
        error_of(&f.redeem("sb_ac_unknown", NOW)),
        (400, "invalid_grant")
    );

    // Another registered client presenting this client's code.
    let code = f.code(true, NOW);
    let other = register(
        serde_json::json!({"redirect_uris": [REDIRECT]})
            .to_string()
            .as_bytes(),
        &f.registration,
        NOW,
        &RegistrationRandom {
            client_id: [9; 16],
            client_secret: [9; 32],
        },
    )
    .unwrap()
    .record;
    f.kv.apply(&[other.write(NOW)], NOW);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier()),
        ("client_id", other.client_id.as_str()),
    ];
    assert_eq!(error_of(&f.token(&form, NOW + 1)), (400, "invalid_grant"));
    assert_eq!(
        error_of(&f.redeem(&code, NOW + 2)),
        (400, "invalid_grant"),
        "burned"
    );
}

#[test]
fn unknown_clients_get_401_and_bad_requests_400() {
    let mut f = Fixture::new(&["authorization_code"]);
    let code = f.code(true, NOW);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", &verifier()),
        ("client_id", "sbc_nobody"),
    ];
    assert_eq!(error_of(&f.token(&form, NOW)), (401, "invalid_client"));
    let odd = [("grant_type", "password"), ("client_id", "x")];
    assert_eq!(
        error_of(&f.token(&odd, NOW)),
        (400, "unsupported_grant_type")
    );
    assert_eq!(
        error_of(&f.token(&[("client_id", "x")], NOW)),
        (400, "invalid_request")
    );
    let no_code = [("grant_type", "authorization_code"), ("client_id", "x")];
    assert_eq!(error_of(&f.token(&no_code, NOW)), (400, "invalid_request"));
}

#[test]
fn tokens_for_another_resource_are_refused() {
    let mut f = Fixture::new(&["authorization_code"]);
    let code = f.code(true, NOW);
    let client_id = f.client.client_id.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier()),
        ("client_id", client_id.as_str()),
        ("resource", "https://other.example/mcp"),
    ];
    assert_eq!(error_of(&f.token(&form, NOW)), (400, "invalid_target"));
}

#[test]
fn a_user_removed_from_the_allowlist_gets_nothing_more() {
    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let (_, tokens) = f.redeem(&code, NOW + 1);
    f.allowlist = Allowlist::parse("7").unwrap();
    let code = f.code(true, NOW);
    assert_eq!(error_of(&f.redeem(&code, NOW + 2)), (400, "invalid_grant"));
    let refresh = f.refresh(tokens["refresh_token"].as_str().unwrap(), NOW + 3);
    assert_eq!(error_of(&refresh), (400, "invalid_grant"));
    assert!(
        !f.access_is_live(&tokens["access_token"], NOW + 3),
        "grant revoked"
    );
}

#[test]
fn refresh_rotates_and_a_replayed_token_revokes_the_family() {
    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let (_, first) = f.redeem(&code, NOW + 1);
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, second) = f.refresh(&first_refresh, NOW + 10_000);
    assert_eq!(status, 200, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert!(f.access_is_live(&second["access_token"], NOW + 10_000));
    assert!(
        !f.access_is_live(&first["access_token"], NOW + 10_000),
        "old access retired"
    );

    // The first refresh token comes back: the whole family is revoked.
    let replay = f.refresh(&first_refresh, NOW + 20_000);
    assert_eq!(error_of(&replay), (400, "invalid_grant"));
    assert!(!f.access_is_live(&second["access_token"], NOW + 20_000));
    assert_eq!(f.kv.count("grant:", NOW + 20_000), 0);
    let after = f.refresh(&second_refresh, NOW + 30_000);
    assert_eq!(error_of(&after), (400, "invalid_grant"));
}

#[test]
fn refresh_checks_client_expiry_scope_and_registration() {
    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let (_, tokens) = f.redeem(&code, NOW + 1);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let client_id = f.client.client_id.clone();

    let narrow = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client_id.as_str()),
        ("scope", "notes:read"),
    ];
    let (status, narrowed) = f.token(&narrow, NOW + 2);
    assert_eq!(status, 200);
    assert_eq!(narrowed["scope"], Scope::NotesRead.as_str());
    let refresh = narrowed["refresh_token"].as_str().unwrap().to_owned();
    let wider = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client_id.as_str()),
        ("scope", "notes:read notes:write"),
    ];
    assert_eq!(error_of(&f.token(&wider, NOW + 3)), (400, "invalid_scope"));

    let expired = f.refresh(&refresh, NOW + 2 + Lifetimes::default().refresh_ms);
    assert_eq!(error_of(&expired), (400, "invalid_grant"));
    assert_eq!(
        error_of(&f.refresh("sb_rt_nope", NOW)),
        (400, "invalid_grant")
    );

    let mut no_refresh = Fixture::new(&["authorization_code"]);
    let code = no_refresh.code(true, NOW);
    let (_, tokens) = no_refresh.redeem(&code, NOW + 1);
    assert!(tokens.get("refresh_token").is_none());
    assert_eq!(
        error_of(&no_refresh.refresh("sb_rt_whatever", NOW + 2)),
        (400, "unauthorized_client")
    );
}

#[test]
fn two_redemptions_that_both_saw_the_code_unused_are_settled_by_the_ledger() {
    use crate::oauth::ledger::decide_redemption;

    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let client_id = f.client.client_id.clone();
    // Both read KV before either wrote (two locations inside KV's propagation window).
    let seen: Option<CodeRecord> = f.kv.get_json(&code_key(&hash_token(&code)), NOW + 1000);
    let client = f.client.clone();
    let outcomes: Vec<TokenOutcome> = (0..2)
        .map(|_| {
            let verifier = verifier();
            let params = Params::from_pairs([
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
                ("client_id", client_id.as_str()),
            ]);
            let Ok(TokenRequest::Code(exchange)) = TokenRequest::parse(&params, None) else {
                panic!("a code request");
            };
            let random = f.random();
            exchange.redeem(
                seen.clone(),
                Some(&client),
                None,
                &f.context(),
                NOW + 1000,
                &random,
            )
        })
        .collect();
    // KV alone would let both through; each names the decision the user's object must take.
    let mut first_grant: Option<String> = None;
    let mut answers = Vec::new();
    for outcome in &outcomes {
        assert_eq!(outcome.reply.status, 200);
        let check = outcome.ledger.as_ref().expect("a ledger check");
        assert_eq!(check.user_id, USER);
        let LedgerRequest::RedeemCode {
            code_hash,
            grant_id,
            ..
        } = &check.request
        else {
            panic!("a redemption: {:?}", check.request);
        };
        assert_eq!(code_hash, hash_token(&code).as_hex());
        answers.push(decide_redemption(first_grant.as_deref()));
        first_grant.get_or_insert_with(|| grant_id.clone());
    }
    assert_eq!(answers[0], LedgerAnswer::Granted);
    assert_eq!(
        answers[1],
        LedgerAnswer::CodeReplayed {
            grant_id: first_grant.expect("the first grant")
        }
    );
    let refused = ledger_refusal(&answers[1], None);
    assert_eq!(refused.reply.status, 400);
    assert!(refused.reply.body.contains("invalid_grant"));
    assert!(refused.writes.is_empty() && refused.ledger.is_none());
}

#[test]
fn a_rotation_names_the_presented_and_the_new_refresh_hash() {
    let mut f = Fixture::new(&["authorization_code", "refresh_token"]);
    let code = f.code(true, NOW);
    let (_, tokens) = f.redeem(&code, NOW + 1000);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let record: Option<RefreshRecord> =
        f.kv.get_json(&refresh_key(&hash_token(&refresh)), NOW + 2000);
    let grant: Option<Grant> = record.as_ref().and_then(|record| {
        f.kv.get_json(&RefreshExchange::grant_key(record), NOW + 2000)
    });
    let client_id = f.client.client_id.clone();
    let params = Params::from_pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client_id.as_str()),
    ]);
    let Ok(TokenRequest::Refresh(exchange)) = TokenRequest::parse(&params, None) else {
        panic!("a refresh request");
    };
    let random = f.random();
    let client = f.client.clone();
    let outcome = exchange.rotate(
        record,
        grant,
        Some(&client),
        &f.context(),
        NOW + 2000,
        &random,
    );
    assert_eq!(outcome.reply.status, 200);
    let body: Value = serde_json::from_str(&outcome.reply.body).unwrap();
    let check = outcome.ledger.expect("a ledger check");
    let LedgerRequest::RotateRefresh {
        presented_hash,
        new_hash,
        ..
    } = check.request
    else {
        panic!("a rotation");
    };
    assert_eq!(presented_hash, hash_token(&refresh).as_hex());
    assert_eq!(
        new_hash,
        hash_token(body["refresh_token"].as_str().unwrap()).as_hex()
    );
    assert!(check.grant.is_some(), "the refusal would need the grant");
}
