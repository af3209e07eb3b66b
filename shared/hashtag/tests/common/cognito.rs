//! Accounts for the tests that run through the local API Gateway: there the
//! write routes want a token of the local stack's Cognito user pool (moto,
//! created by `scripts/local-aws`), as they do on AWS. This signs users up
//! and in through Cognito's own API (JSON 1.1 over HTTP; moto checks no
//! signatures), with nothing but std, so that no SDK is needed for it.

use serde_json::{json, Value};

/// An ID token (the `IdToken` of a sign-in) for `username`, whom it signs up
/// first unless the pool has them already. `env` is the local stack's
/// variables (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`,
/// `COGNITO_USER_POOL_ID`, `COGNITO_CLIENT_ID`). The sign-up is confirmed
/// with the admin API, since no confirmation code reaches a test. The pool
/// wants passwords of at least 8 characters; moto compares usernames in
/// their exact casing, whatever the pool says, so use one casing per user.
pub fn id_token(env: &[(String, String)], username: &str, password: &str) -> String {
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} is not set: is the local AWS stack up?"))
    };
    let endpoint = var("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER");
    let addr = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let (pool_id, client_id) = (var("COGNITO_USER_POOL_ID"), var("COGNITO_CLIENT_ID"));

    let credentials = json!({ "ClientId": client_id, "Username": username, "Password": password });
    let (status, answer) = call(addr, "SignUp", &credentials);
    if status == 200 {
        let confirm = json!({ "UserPoolId": pool_id, "Username": username });
        let (status, answer) = call(addr, "AdminConfirmSignUp", &confirm);
        assert_eq!(status, 200, "AdminConfirmSignUp {username}: {answer}");
    } else {
        assert_eq!(
            answer["__type"], "UsernameExistsException",
            "SignUp {username}: {status} {answer}"
        );
    }

    let sign_in = json!({
        "ClientId": client_id,
        "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": { "USERNAME": username, "PASSWORD": password },
    });
    let (status, answer) = call(addr, "InitiateAuth", &sign_in);
    match answer["AuthenticationResult"]["IdToken"].as_str() {
        Some(token) if status == 200 => token.to_string(),
        _ => panic!("InitiateAuth {username}: {status} {answer}"),
    }
}

/// Puts `username` into the pool's group `group` (made if missing): the
/// user's next tokens carry it in `cognito:groups`.
pub fn add_to_group(env: &[(String, String)], username: &str, group: &str) {
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} is not set"))
    };
    let endpoint = var("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER");
    let addr = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let pool_id = var("COGNITO_USER_POOL_ID");
    let (status, answer) = call(
        addr,
        "CreateGroup",
        &json!({ "UserPoolId": pool_id, "GroupName": group }),
    );
    assert!(
        status == 200 || answer["__type"] == "GroupExistsException",
        "CreateGroup {group}: {status} {answer}"
    );
    let member = json!({ "UserPoolId": pool_id, "Username": username, "GroupName": group });
    let (status, answer) = call(addr, "AdminAddUserToGroup", &member);
    assert_eq!(status, 200, "AdminAddUserToGroup {username}: {answer}");
}

/// Creates a user pool and an app client in the moto at `endpoint`
/// (`http://127.0.0.1:PORT`), as `scripts/local-aws` does: the variables
/// that name them for [`id_token`] and the server's token verification.
pub fn create_pool(endpoint: &str) -> Vec<(&'static str, String)> {
    let addr = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let (status, pool) = call(
        addr,
        "CreateUserPool",
        &json!({ "PoolName": "hashtag-test" }),
    );
    assert_eq!(status, 200, "CreateUserPool: {pool}");
    let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_string();
    let client = json!({
        "UserPoolId": pool_id,
        "ClientName": "hashtag-test",
        "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    });
    let (status, client) = call(addr, "CreateUserPoolClient", &client);
    assert_eq!(status, 200, "CreateUserPoolClient: {client}");
    let client_id = client["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_string();
    [
        (
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
            endpoint.to_string(),
        ),
        ("COGNITO_USER_POOL_ID", pool_id.clone()),
        ("COGNITO_CLIENT_ID", client_id.clone()),
        (
            "JWT_ISSUER",
            format!("https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"),
        ),
        ("JWT_AUDIENCE", client_id),
        (
            "JWT_JWKS_URL",
            format!("{endpoint}/{pool_id}/.well-known/jwks.json"),
        ),
    ]
    .into()
}

/// Calls Cognito's `operation` with `input`: the status and the JSON answer
/// (an error's is `{"__type": ..., "message": ...}`).
fn call(addr: &str, operation: &str, input: &Value) -> (u16, Value) {
    let target = format!("AWSCognitoIdentityProviderService.{operation}");
    let res = super::request(
        addr,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target.as_str()),
        ],
        input.to_string().as_bytes(),
    );
    let answer = serde_json::from_str(&res.body).unwrap_or(Value::Null);
    (res.status, answer)
}
