//! The workbench's editor: a monospace text area whose completion list opens under the word
//! being typed. Arrows move in the list, Tab or Enter take a suggestion, Escape closes it,
//! Ctrl+Space asks for it anywhere, Ctrl+Enter runs the query.

use leptos::prelude::*;

use super::complete::{Catalog, Completion, accept, complete};

/// The completion list open at the caret: which suggestion is chosen, and where the list goes
/// (the word's line and column, the text area's scroll).
#[derive(Debug, Clone, PartialEq)]
struct Open {
    completion: Completion,
    chosen: usize,
    line: usize,
    column: usize,
    scroll: (i32, i32),
}

/// Byte offset of UTF-16 offset `at` of `text` (a text area's caret counts UTF-16 units).
fn byte_of_utf16(text: &str, at: u32) -> usize {
    let mut units = 0u32;
    for (i, c) in text.char_indices() {
        if units >= at {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    text.len()
}

fn utf16_of_byte(text: &str, at: usize) -> u32 {
    text[..at.min(text.len())].encode_utf16().count() as u32
}

/// The line (from 0) and column (in characters) of byte `at`.
fn line_and_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count();
    let column = before.rsplit('\n').next().unwrap_or("").chars().count();
    (line, column)
}

#[component]
pub(crate) fn Editor(
    text: RwSignal<String>,
    catalog: Signal<Catalog>,
    on_run: Callback<()>,
) -> impl IntoView {
    let area = NodeRef::<leptos::html::Textarea>::new();
    let open = RwSignal::new(None::<Open>);
    let initial = text.get_untracked();

    // Opens (or closes) the list for the caret where it is now.
    let suggest = move |asked: bool| {
        let Some((caret, scroll)) = caret(area) else {
            return;
        };
        let sql = text.get_untracked();
        let at = byte_of_utf16(&sql, caret);
        let next = catalog.with_untracked(|catalog| complete(&sql, at, catalog, asked));
        open.set(next.map(|completion| {
            let (line, column) = line_and_column(&sql, completion.from);
            Open {
                completion,
                chosen: 0,
                line,
                column,
                scroll,
            }
        }));
    };
    let take = move |i: usize| {
        let Some(now) = open.get_untracked() else {
            return;
        };
        let Some(suggestion) = now.completion.suggestions.get(i) else {
            return;
        };
        let sql = text.get_untracked();
        let (next, caret) = accept(&sql, &now.completion, suggestion);
        let caret = utf16_of_byte(&next, caret);
        put(area, &next, caret);
        text.set(next);
        open.set(None);
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let key = ev.key();
        let ctrl = ev.ctrl_key() || ev.meta_key();
        if ctrl && key == "Enter" {
            ev.prevent_default();
            open.set(None);
            on_run.run(());
            return;
        }
        if ctrl && key == " " {
            ev.prevent_default();
            suggest(true);
            return;
        }
        let Some(now) = open.get_untracked() else {
            return;
        };
        let count = now.completion.suggestions.len();
        match key.as_str() {
            "ArrowDown" => {
                ev.prevent_default();
                open.update(|o| {
                    if let Some(o) = o {
                        o.chosen = (o.chosen + 1) % count;
                    }
                });
            }
            "ArrowUp" => {
                ev.prevent_default();
                open.update(|o| {
                    if let Some(o) = o {
                        o.chosen = (o.chosen + count - 1) % count;
                    }
                });
            }
            "Enter" | "Tab" => {
                ev.prevent_default();
                take(now.chosen);
            }
            "Escape" => {
                ev.prevent_default();
                open.set(None);
            }
            _ => {}
        }
    };
    let on_input = move |ev: leptos::ev::Event| {
        text.set(event_target_value(&ev));
        suggest(false);
    };

    view! {
        <div class="sql-editor-box">
            <textarea class="code sql-editor" data-test="sql-editor" spellcheck="false" wrap="off"
                rows="9" node_ref=area prop:value=move || text.get()
                on:input=on_input on:keydown=on_keydown
                on:click=move |_| open.set(None) on:blur=move |_| open.set(None)>
                {initial}
            </textarea>
            {move || open.get().map(|o| {
                let style = format!(
                    "top: calc({} * 1.5em + 1.6em + 10px - {}px); left: calc({}ch + 12px - {}px)",
                    o.line, o.scroll.0, o.column, o.scroll.1
                );
                let chosen = o.chosen;
                view! {
                    <ul class="completions" data-test="sql-completions" style=style>
                        {o.completion.suggestions.into_iter().enumerate().map(|(i, s)| view! {
                            <li class:chosen=i == chosen data-test="sql-completion" data-insert=s.insert.clone()
                                // Taken on mousedown, before the text area loses its focus.
                                on:mousedown=move |ev| { ev.prevent_default(); take(i); }>
                                <span class=format!("c-kind c-{}", s.kind.as_str())>{s.kind.as_str()}</span>
                                <span class="c-label">{s.label}</span>
                                <span class="c-detail">{s.detail}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }
            })}
        </div>
    }
}

/// The text area's caret (UTF-16 units) and scroll (top, left), in the browser.
fn caret(area: NodeRef<leptos::html::Textarea>) -> Option<(u32, (i32, i32))> {
    #[cfg(feature = "hydrate")]
    {
        let el = area.get_untracked()?;
        let caret = el.selection_end().ok().flatten()?;
        Some((caret, (el.scroll_top(), el.scroll_left())))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = area;
        None
    }
}

/// Writes `text` into the text area with the caret at `caret`, in the browser.
fn put(area: NodeRef<leptos::html::Textarea>, text: &str, caret: u32) {
    #[cfg(feature = "hydrate")]
    if let Some(el) = area.get_untracked() {
        el.set_value(text);
        let _ = el.set_selection_range(caret, caret);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (area, text, caret);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carets_in_utf16_map_to_bytes_and_back() {
        let text = "SELECT 'é😀' FROM x";
        for (byte, _) in text.char_indices() {
            assert_eq!(byte_of_utf16(text, utf16_of_byte(text, byte)), byte);
        }
        assert_eq!(byte_of_utf16(text, 1000), text.len());
        assert_eq!(line_and_column("SELECT\n  a, é", 14), (1, 6));
    }
}
