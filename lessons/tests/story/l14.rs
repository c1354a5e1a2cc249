//! Lesson 14: the capstone.

use crate::lessons;

/// The counts of one strategy's run: (served, lost, greeted, closed without a
/// greeting, descriptors leaked).
fn tally(section: &str) -> (usize, usize, usize, usize, isize) {
    let number_after = |label: &str| -> String {
        let rest = &section[section
            .find(label)
            .unwrap_or_else(|| panic!("no {label:?} in:\n{section}"))
            + label.len()..];
        rest.chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect()
    };
    (
        number_after("served ").parse().unwrap(),
        number_after("lost ").parse().unwrap(),
        number_after("greeted ").parse().unwrap(),
        number_after("closed without a greeting ").parse().unwrap(),
        number_after("descriptors leaked: ").parse().unwrap(),
    )
}

#[test]
fn lesson_14_race_serves_every_client_and_the_select_accounts_for_each_loss() {
    let story = lessons(&["14"]);
    let (select, raced) = story
        .split_once("-- with race")
        .expect("the race step follows the select step");
    let select = select
        .split_once("-- with a select")
        .expect("the select step")
        .1;

    // The select may lose connections (how many depends on timing), but the server's
    // count of losses is the clients' count of connections closed without a word, and
    // no descriptor leaks.
    let (served, lost, greeted, dropped, leaked) = tally(select);
    assert!(!select.contains("connect failed"), "{select}");
    assert_eq!(served + lost, 300, "{select}");
    assert_eq!((greeted, dropped), (served, lost), "{select}");
    assert_eq!(leaked, 0, "{select}");
    assert!(
        select.contains(&format!(
            "server lost {lost}, clients closed without a greeting {dropped}: the same connections"
        )),
        "{select}"
    );
    if lost > 0 {
        assert!(select.contains(&format!("{lost} clients connected, were accepted")));
    } else {
        assert!(select.contains("This run lost nothing"));
    }

    // race loses nothing, ever.
    assert_eq!(tally(raced), (300, 0, 300, 0, 0), "{raced}");
    assert!(!raced.contains("connect failed"), "{raced}");
    assert!(raced.contains("Every client was served."), "{raced}");
    assert!(!raced.contains("Not every client"), "{raced}");
}
