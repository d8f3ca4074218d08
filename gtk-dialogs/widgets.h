// Small GTK 3 helpers every dialog shares: spin buttons, combo boxes, multi-line text, labelled
// grid rows, and reading / writing their values.
#pragma once

#include <gtk/gtk.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sdgimp::dialogs {

// A grid with the dialogs' spacing (4 px between rows, 8 between columns).
GtkWidget* form_grid();
GtkWidget* spin(double lo, double hi, double step, int digits);
GtkWidget* combo(const std::vector<std::string>& items);
GtkWidget* combo_with_entry(const std::vector<std::string>& items);  // items plus free text (file paths)
GtkWidget* text_view(int lines);  // the view; its scrolled window is the parent to pack
std::string buffer_text(GtkWidget* view);
void set_buffer_text(GtkWidget* view, const std::string& t);
// Selects id, adding it when it is not listed (a model file from pasted settings is kept, not dropped).
void set_combo(GtkWidget* c, const std::string& id);
std::string combo_id(GtkWidget* c);  // also the typed text of a combo with an entry
double num(GtkWidget* s);
void set_num(GtkWidget* s, double v);
// -1 or a whole number; throws sdgimp::Error naming `what` otherwise.
int64_t parse_seed(GtkWidget* e, const char* what);
void label_row(GtkGrid* g, int row, int col, const char* label, GtkWidget* w);

}  // namespace sdgimp::dialogs
