//! A small browser for the in-process app: a cookie jar, form posts, HTML form fields,
//! and no automatic redirects (tests read `Location`).

use std::collections::BTreeMap;

use crate::support::Reply;

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "https://app.example.com/callback";

#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let removed = text.contains("Max-Age=0") || value.is_empty();
                if removed {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    pub fn get_request(&self, path: &str) -> actix_http::Request {
        let mut req = actix_web::test::TestRequest::get().uri(path);
        if !self.cookies.is_empty() {
            req = req.insert_header(("cookie", self.cookie_header()));
        }
        req.to_request()
    }

    /// A form post from the client address `peer`, with extra headers.
    pub fn post_from(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        peer: std::net::SocketAddr,
        headers: &[(&str, &str)],
    ) -> actix_http::Request {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = actix_web::test::TestRequest::post()
            .uri(path)
            .peer_addr(peer)
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(body);
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        if !self.cookies.is_empty() {
            req = req.insert_header(("cookie", self.cookie_header()));
        }
        req.to_request()
    }

    pub fn post_request(&self, path: &str, fields: &[(&str, &str)]) -> actix_http::Request {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = actix_web::test::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(body);
        if !self.cookies.is_empty() {
            req = req.insert_header(("cookie", self.cookie_header()));
        }
        req.to_request()
    }

    pub async fn get<S, B>(&mut self, app: &S, path: &str) -> Reply
    where
        S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
        B: actix_web::body::MessageBody,
    {
        let reply = crate::support::call(app, self.get_request(path)).await;
        self.remember(&reply);
        reply
    }

    pub async fn post<S, B>(&mut self, app: &S, path: &str, fields: &[(&str, &str)]) -> Reply
    where
        S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
        B: actix_web::body::MessageBody,
    {
        let reply = crate::support::call(app, self.post_request(path, fields)).await;
        self.remember(&reply);
        reply
    }
}

/// The `value` of the input named `name` (first one).
pub fn field(html: &str, name: &str) -> Option<String> {
    values(html, name).into_iter().next()
}

/// Every `value` of inputs named `name`, in order.
pub fn values(html: &str, name: &str) -> Vec<String> {
    let needle = format!("name=\"{name}\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let tag_start = html[..at].rfind('<')?;
            let tag_end = at + html[at..].find('>')?;
            let tag = &html[tag_start..tag_end];
            let v = tag.split("value=\"").nth(1)?;
            Some(v[..v.find('"')?].to_owned())
        })
        .collect()
}

/// A query parameter of a `Location` header.
pub fn location_param(reply: &Reply, name: &str) -> Option<String> {
    let location = reply.header("location")?;
    let url = url::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `/authorize` for `client_id` with PKCE S256 and the given extra parameters.
pub fn authorize_path(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid offline_access"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/authorize?{query}")
}
