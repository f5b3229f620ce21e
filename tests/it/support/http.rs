//! Calling the in-process app: the answer's shape, and requests with form bodies, Basic
//! credentials or a bearer token.

/// An answer from the in-process app.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON body without its per-request id, for comparing two error answers.
    pub fn json_without_request_id(&self) -> serde_json::Value {
        let mut body = self.json();
        if let Some(map) = body.as_object_mut() {
            map.remove("request_id");
        }
        body
    }
}

pub async fn call<S, B>(app: &S, req: actix_http::Request) -> Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = actix_web::test::call_service(app, req).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = actix_web::test::read_body(res).await;
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A form POST with optional `Authorization`.
pub fn form_post(
    path: &str,
    authorization: Option<&str>,
    fields: &[(&str, &str)],
) -> actix_http::Request {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut req = actix_web::test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body);
    if let Some(value) = authorization {
        req = req.insert_header(("authorization", value));
    }
    req.to_request()
}

pub fn get(path: &str) -> actix_http::Request {
    actix_web::test::TestRequest::get().uri(path).to_request()
}

/// A request with a bearer token.
pub fn bearer(
    method: actix_web::http::Method,
    path: &str,
    token: &str,
) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("authorization", format!("Bearer {token}")))
}
