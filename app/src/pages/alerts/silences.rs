//! The silences tab: the silences in force, coming and expired, with who made them and why; a
//! form for a new one (matchers as Alertmanager writes them); expiring one.

use leptos::prelude::*;

use protocol::alert::{Matcher, Silence, SilenceView};

use super::ago;
use crate::api::{create_silence, delete_silence, list_silences};
use crate::pages::ErrorMessage;
use crate::pages::dashboard::now_micros;

#[component]
pub(crate) fn Silences() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let silences = Resource::new(move || version.get(), |_| list_silences());
    let refresh = move || version.update(|v| *v += 1);
    view! {
        <NewSilence made=refresh/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match silences.await {
                    Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty" data-test="silences">"No silences. Silence an instance from the "
                        <a href="/alerts?view=instances">"Instances"</a> " tab, or write matchers above."</p>
                    }.into_any(),
                    Ok(list) => view! { <List list refresh/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn List(
    list: Vec<SilenceView>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <table class="list" data-test="silences">
            <thead><tr><th>"State"</th><th>"Matchers"</th><th>"Ends"</th><th>"Comment"</th><th></th></tr></thead>
            <tbody>
                {list.into_iter().map(|s| {
                    let id = s.silence.id.clone();
                    let ends = protocol::dashboard::time::parse_rfc3339(&s.silence.ends_at);
                    let state_class = match s.state.as_str() {
                        "active" => "state pending",
                        _ => "state normal",
                    };
                    let expire = move |_| {
                        let id = id.clone();
                        leptos::task::spawn_local(async move {
                            if delete_silence(id).await.is_ok() {
                                refresh();
                            }
                        });
                    };
                    let active = s.state != "expired";
                    view! {
                        <tr data-test=format!("silence-{}", s.silence.id) data-state=s.state.clone()>
                            <td><span class=state_class>{s.state.clone()}</span></td>
                            <td>{s.silence.matchers.iter().map(|m| view! { <span class="label">{m.to_string()}</span> }).collect_view()}</td>
                            <td class="muted" title=s.silence.ends_at.clone()>{match ends {
                                Some(end) if end > now_micros() => format!("in {}", crate::viz::age(end - now_micros())),
                                Some(end) => ago(end)(),
                                None => s.silence.ends_at.clone(),
                            }}</td>
                            <td class="muted">{s.silence.comment.clone()} {(!s.silence.created_by.is_empty()).then(|| view! { <span class="small">" by " {s.silence.created_by.clone()}</span> })}</td>
                            <td class="row-actions">{active.then(|| view! { <button class="button small" data-test="expire" on:click=expire>"Expire"</button> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Matchers (`service="checkout", env=~prod.*`), a duration and a comment.
#[component]
fn NewSilence(made: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let hours = RwSignal::new("2".to_owned());
    let comment = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let parsed: Result<Vec<Matcher>, String> = text
            .get_untracked()
            .split(',')
            .filter(|m| !m.trim().is_empty())
            .map(Matcher::parse)
            .collect();
        let hours: f64 = match hours.get_untracked().trim().parse() {
            Ok(h) if h > 0.0 => h,
            _ => {
                problem.set(Some("the duration is a number of hours above 0".into()));
                return;
            }
        };
        let matchers = match parsed {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => {
                problem.set(Some("a silence needs at least one matcher".into()));
                return;
            }
            Err(message) => {
                problem.set(Some(message));
                return;
            }
        };
        let silence = Silence {
            id: String::new(),
            matchers,
            starts_at: None,
            ends_at: protocol::dashboard::time::rfc3339(
                now_micros() + (hours * 3_600_000_000.0) as i64,
            ),
            comment: comment.get_untracked(),
            created_by: "web".to_owned(),
        };
        leptos::task::spawn_local(async move {
            match create_silence(silence).await {
                Ok(_) => {
                    problem.set(None);
                    text.set(String::new());
                    made();
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
        });
    };
    view! {
        <form class="inline-form" on:submit=submit data-test="new-silence">
            <input type="text" class="wide" placeholder="Matchers: service=\"checkout\", env=~prod.*" bind:value=text data-test="silence-matchers"/>
            <label>"for" <input type="text" class="narrow" bind:value=hours/> "h"</label>
            <input type="text" placeholder="Comment" bind:value=comment/>
            <button class="button" type="submit">"Add silence"</button>
            {move || problem.get().map(|p| view! { <span class="error">{p}</span> })}
        </form>
    }
}
