//! `POST /revoke` (RFC 7009): revoking an access or refresh token, and with it its grant.
//!
//! The adapter's sequence: [`RevocationRequest::parse`]; read the client
//! ([`RevocationRequest::client_id`]); read [`RevocationRequest::lookup_key`] as a
//! [`TokenOwner`] (if the key is `None` there is nothing to read); read the grant it names;
//! call [`RevocationRequest::revoke`]; apply the writes; send the reply.
//!
//! Answers are 200 whether or not the token existed (RFC 7009 section 2.2: an invalid token is
//! not an error), so the endpoint is no oracle for token validity. Revoking either token of a
//! grant revokes the grant: its current access and refresh tokens (RFC 7009 section 2.1 lets
//! the server revoke the related tokens; for a refresh token it should). A token presented by
//! a client other than its own is left alone, also with 200. The client must authenticate as
//! registered (public clients by `client_id`); a failure there is 401 `invalid_client`.

use serde::Deserialize;

use super::client_auth::{Credentials, TokenError};
use super::ledger::LedgerRequest;
use super::params::Params;
use super::registration::ClientRecord;
use super::response::Reply;
use super::storage::{KvWrite, access_key, grant_key, refresh_key};
use super::token_endpoint::{LedgerCheck, TokenOutcome};
use super::tokens::{ACCESS_PREFIX, Grant, REFRESH_PREFIX, hash_token, revoke_grant};

/// The owner fields shared by access and refresh records (read either as this).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenOwner {
    /// The grant the token belongs to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
}

/// A parsed revocation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    credentials: Credentials,
    token: String,
}

impl RevocationRequest {
    /// Parses the form (`token`, optional `token_type_hint`, ignored: the token's prefix
    /// says what it is) and the client's credentials.
    pub fn parse(params: &Params, authorization: Option<&str>) -> Result<Self, TokenError> {
        let token = params
            .require("token")
            .map_err(TokenError::invalid_request)?
            .to_owned();
        params
            .get("token_type_hint")
            .map_err(TokenError::invalid_request)?;
        let credentials = Credentials::from_request(params, authorization)?;
        Ok(RevocationRequest { credentials, token })
    }

    /// The client id to load the client record for.
    pub fn client_id(&self) -> &str {
        self.credentials.client_id()
    }

    /// The record to read, if the token looks like one of ours.
    pub fn lookup_key(&self) -> Option<String> {
        let hash = hash_token(&self.token);
        if self.token.starts_with(ACCESS_PREFIX) {
            Some(access_key(&hash))
        } else if self.token.starts_with(REFRESH_PREFIX) {
            Some(refresh_key(&hash))
        } else {
            None
        }
    }

    /// The grant to read for the owner found.
    pub fn grant_key(owner: &TokenOwner) -> String {
        grant_key(&owner.grant_id)
    }

    /// Decides: authenticate the client, then revoke the token's grant if it is the
    /// client's own.
    pub fn revoke(
        self,
        owner: Option<TokenOwner>,
        grant: Option<Grant>,
        client: Option<&ClientRecord>,
        now_ms: u64,
    ) -> TokenOutcome {
        let client = match self.credentials.authenticate(client, now_ms) {
            Ok(client) => client,
            Err(err) => {
                return TokenOutcome {
                    reply: err.reply(),
                    writes: Vec::new(),
                    ledger: None,
                };
            }
        };
        let mut writes = Vec::new();
        let mut ledger = None;
        if let (Some(owner), Some(key)) = (owner, self.lookup_key())
            && owner.client_id == client.client_id
        {
            if let Some(grant) = grant.filter(|grant| {
                grant.grant_id == owner.grant_id && grant.client_id == client.client_id
            }) {
                writes.extend(revoke_grant(&grant));
                // The user's object too, so no refresh of this grant is ever accepted again,
                // wherever KV has not caught up yet.
                ledger = Some(LedgerCheck {
                    user_id: grant.user_id,
                    request: LedgerRequest::RevokeGrant {
                        grant_id: grant.grant_id.clone(),
                    },
                    grant: None,
                });
            }
            // The presented token itself, even if it is a retired refresh token.
            if !writes.iter().any(|write| write.key() == key) {
                writes.push(KvWrite::delete(key));
            }
        }
        TokenOutcome {
            reply: Reply::json_no_store(200, &serde_json::json!({})).with_public_cors(),
            writes,
            ledger,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::memory_kv::MemoryKv;
    use crate::oauth::registration::{RegistrationPolicy, RegistrationRandom, register};
    use crate::oauth::scope::ScopeSet;
    use crate::oauth::storage::client_key;
    use crate::oauth::tokens::{GrantTerms, IssueRandom, Lifetimes, issue_tokens};

    const NOW: u64 = 1_750_000_000_000;

    fn client(seed: u8) -> ClientRecord {
        register(
            br#"{"redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code","refresh_token"]}"#,
            &RegistrationPolicy::default(),
            NOW,
            &RegistrationRandom {
                client_id: [seed; 16],
                client_secret: [seed; 32],
            },
        )
        .unwrap()
        .record
    }

    /// A KV holding one client with one grant; returns (kv, client, access, refresh).
    fn setup() -> (MemoryKv, ClientRecord, String, String) {
        let client = client(1);
        let issued = issue_tokens(
            &GrantTerms {
                user_id: 42,
                client_id: client.client_id.clone(),
                scope: ScopeSet::ALL,
                resource: "https://brain.example.com/mcp".into(),
            },
            None,
            true,
            NOW,
            &Lifetimes::default(),
            &IssueRandom {
                access: [3; 32],
                refresh: [4; 32],
                grant_id: [5; 16],
            },
        );
        let mut kv = MemoryKv::default();
        kv.apply(&issued.writes, NOW);
        kv.apply(&[client.write(NOW)], NOW);
        let refresh = issued.response.refresh_token.unwrap();
        (kv, client, issued.response.access_token, refresh)
    }

    fn revoke(kv: &mut MemoryKv, form: &[(&str, &str)]) -> u16 {
        let request =
            match RevocationRequest::parse(&Params::from_pairs(form.iter().copied()), None) {
                Ok(request) => request,
                Err(err) => return err.status(),
            };
        let client: Option<ClientRecord> = kv.get_json(&client_key(request.client_id()), NOW);
        let owner: Option<TokenOwner> = request.lookup_key().and_then(|key| kv.get_json(&key, NOW));
        let grant: Option<Grant> = owner
            .as_ref()
            .and_then(|owner| kv.get_json(&RevocationRequest::grant_key(owner), NOW));
        let outcome = request.revoke(owner, grant, client.as_ref(), NOW);
        kv.apply(&outcome.writes, NOW);
        outcome.reply.status
    }

    #[test]
    fn revoking_either_token_revokes_the_grant() {
        for which in [0, 1] {
            let (mut kv, client, access, refresh) = setup();
            let token = if which == 0 { &access } else { &refresh };
            assert_eq!(
                revoke(
                    &mut kv,
                    &[("token", token), ("client_id", &client.client_id)]
                ),
                200
            );
            assert_eq!(kv.count("access:", NOW), 0);
            assert_eq!(kv.count("refresh:", NOW), 0);
            assert_eq!(kv.count("grant:", NOW), 0);
        }
    }

    #[test]
    fn a_revoked_grant_is_also_revoked_in_the_users_object() {
        let (kv, client, _, refresh) = setup();
        let outcome = |token: &str| {
            let form = [("token", token), ("client_id", client.client_id.as_str())];
            let request = RevocationRequest::parse(&Params::from_pairs(form), None).unwrap();
            let owner: Option<TokenOwner> =
                request.lookup_key().and_then(|key| kv.get_json(&key, NOW));
            let grant: Option<Grant> = owner
                .as_ref()
                .and_then(|owner| kv.get_json(&RevocationRequest::grant_key(owner), NOW));
            request.revoke(owner, grant, Some(&client), NOW)
        };
        let revoked = outcome(&refresh);
        let check = revoked.ledger.expect("the object is told");
        assert!(matches!(check.request, LedgerRequest::RevokeGrant { .. }));
        assert!(
            !check.request.decides(),
            "a notice: the answer changes nothing"
        );
        assert_eq!(outcome("sb_rt_unknown").ledger, None);
    }

    #[test]
    fn unknown_tokens_are_200_and_change_nothing() {
        let (mut kv, client, _, _) = setup();
        for token in ["sb_at_unknown", "sb_rt_unknown", "gho_github", "x"] {
            assert_eq!(
                revoke(
                    &mut kv,
                    &[("token", token), ("client_id", &client.client_id)]
                ),
                200
            );
        }
        assert_eq!(kv.count("grant:", NOW), 1);
    }

    #[test]
    fn another_clients_token_is_left_alone() {
        let (mut kv, _, access, _) = setup();
        let other = client(2);
        kv.apply(&[other.write(NOW)], NOW);
        assert_eq!(
            revoke(
                &mut kv,
                &[("token", &access), ("client_id", &other.client_id)]
            ),
            200
        );
        assert_eq!(kv.count("grant:", NOW), 1);
        assert_eq!(kv.count("access:", NOW), 1);
    }

    #[test]
    fn client_authentication_and_form_errors() {
        let (mut kv, _, access, _) = setup();
        assert_eq!(
            revoke(&mut kv, &[("token", &access), ("client_id", "sbc_nobody")]),
            401
        );
        assert_eq!(revoke(&mut kv, &[("client_id", "sbc_nobody")]), 400);
        assert_eq!(revoke(&mut kv, &[("token", &access)]), 401);
        assert_eq!(kv.count("grant:", NOW), 1);
    }
}
