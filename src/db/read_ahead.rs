//! Long walks of a table (verification, export) read the next page on a thread of their
//! own while the caller processes the one before: the walk then takes about as long as
//! the slower of reading and processing, instead of their sum.

use super::DbConnection;

/// Pages buffered between the reader and the caller: with the page being read and the
/// one being processed, at most this many plus two are in memory.
const AHEAD: usize = 2;

/// Calls `next` on a reader thread (with the connection) until it returns `None`, and
/// `each` on the calling thread with every page in order, until `each` returns false.
/// The first error of either side ends the walk and is returned; the reader stops
/// after the page it is reading when the caller stops.
pub fn read_ahead<P, E>(
    conn: &mut DbConnection,
    mut next: impl FnMut(&mut DbConnection) -> Result<Option<P>, E> + Send,
    mut each: impl FnMut(P) -> Result<bool, E>,
) -> Result<(), E>
where
    P: Send,
    E: Send,
{
    std::thread::scope(|scope| {
        let (pages, received) = std::sync::mpsc::sync_channel::<Result<P, E>>(AHEAD);
        scope.spawn(move || loop {
            let page = match next(conn) {
                Ok(Some(page)) => Ok(page),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            let failed = page.is_err();
            // A closed channel: the caller stopped.
            if pages.send(page).is_err() || failed {
                return;
            }
        });
        for page in received {
            if !each(page?)? {
                break;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> DbConnection {
        use diesel::Connection;
        DbConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap())
    }

    #[test]
    fn every_page_arrives_in_order() {
        let mut n = 0;
        let mut seen = Vec::new();
        read_ahead::<_, ()>(
            &mut conn(),
            |_| {
                n += 1;
                Ok((n <= 50).then_some(n))
            },
            |p| {
                seen.push(p);
                Ok(true)
            },
        )
        .unwrap();
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    }

    #[test]
    fn the_reader_stops_when_the_caller_does() {
        let mut read = 0;
        let mut seen = 0;
        read_ahead::<_, ()>(
            &mut conn(),
            |_| {
                read += 1;
                Ok(Some(read))
            },
            |_| {
                seen += 1;
                Ok(seen < 3)
            },
        )
        .unwrap();
        assert_eq!(seen, 3);
        assert!(read <= 3 + AHEAD + 1, "read {read}");
    }

    #[test]
    fn errors_of_either_side_end_the_walk() {
        let mut n = 0;
        let err = read_ahead::<i32, &str>(
            &mut conn(),
            |_| {
                n += 1;
                if n == 3 {
                    Err("read failed")
                } else {
                    Ok(Some(n))
                }
            },
            |_| Ok(true),
        );
        assert_eq!(err, Err("read failed"));
        let err =
            read_ahead::<i32, &str>(&mut conn(), |_| Ok(Some(1)), |_| Err("processing failed"));
        assert_eq!(err, Err("processing failed"));
    }
}
