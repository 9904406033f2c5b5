//! [`Acting`]: the extractor every console action takes. It reads the form,
//! checks the token, the session's CSRF field and the origin, and yields the
//! [`Session`] that acts (with its id and client address, for the audit log);
//! a refused request never reaches the handler (it is answered 403 here).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{caller, field, form_pairs, refused, ConsoleState};
use crate::console::sessions::Session;

/// A form larger than this is refused (413): a selection of every dead letter a
/// scan can hold (65535 ids of 36 characters) fits.
const FORM_LIMIT: usize = 4 * 1024 * 1024;

/// An authorised action: who acts, and the form it sent.
#[derive(Debug)]
pub struct Acting {
    /// The login session (or [`Session::bearer`] for a request with the token itself).
    pub session: Session,
    /// The form's pairs, repeated names kept (the CSRF field among them).
    pub form: Vec<(String, String)>,
}

impl Acting {
    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.form, name)
    }
}

impl FromRequest<ConsoleState> for Acting {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Response> {
        let caller = caller(request.extensions());
        let headers = request.headers().clone();
        let body = axum::body::to_bytes(request.into_body(), FORM_LIMIT)
            .await
            .map_err(|_| {
                tracing::info!(client_addr = %caller.client_addr, "a console form was too large or cut short (413)");
                (StatusCode::PAYLOAD_TOO_LARGE, "413: the form is too large\n").into_response()
            })?;
        let form = form_pairs(&body);
        let checked = state
            .auth
            .may_act(&headers, caller.session.as_ref(), field(&form, "csrf"));
        match checked {
            Err(refusal) => Err(refused(refusal, state, &caller)),
            Ok(()) => {
                let session = match (&caller.session, state.auth.bearer(&headers)) {
                    (Some(session), false) => session.clone(),
                    _ => Session::bearer(caller.client_addr),
                };
                Ok(Acting { session, form })
            }
        }
    }
}
